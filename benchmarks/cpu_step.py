"""One CPU meta-training step, this checkout against a release, back to back.

    python benchmarks/cpu_step.py                      # against v0.2.0, 2 threads
    python benchmarks/cpu_step.py --baseline v0.2.0 --threads 2 --repeats 5 --json out.json

For every shape and method below, each version runs in its own fresh process, the two
interleaved ``--repeats`` times so that a slow spell of the machine falls on both; each
process times ``--iterations`` steps after ``--warmup``. One step is what ``cxgrad train``
does on a CPU: every task's inner loop, the query losses, one second-order backward,
reading the loss back, one Adam step; each version with its fastest CPU path (``--path
fastest`` where the version has it, else its ``auto``) and the CPU set-up its trainer
applies (``cxgrad.training._cpu_memory``, where the version has one), including its task-parallel
meta-gradient (``cxgrad.meta.task_parallel``: "sequential x2" is the task loop in two
threads). The release is checked out into
a temporary ``git worktree`` and imported from there; the worktree is removed afterwards.

Printed per configuration: the median seconds per iteration of each version, tasks per
second, and the ratio (release time / this checkout's time: above 1 means faster now).
Inputs are random tensors of the right shape: a step's time does not depend on pixels.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[1]

# name: (ways, shots, queries, channels, image size, filters, meta-batch)
SHAPES = {
    # The paper's miniImageNet geometry (Tables 1-5): 84x84 RGB, Conv4 with 48 filters.
    "paper-84-conv4-48": (5, 1, 15, 3, 84, 48, 4),
    # The book's Omniglot runs (cxgrad.book.course): 28x28 glyphs, Conv4-32 and Conv4-64.
    "omniglot-28-conv4-32": (5, 1, 15, 1, 28, 32, 4),
    "omniglot-28-conv4-64": (5, 1, 15, 1, 28, 64, 4),
}
METHODS = ("cxgrad", "maml")

# The speed-up over release 0.2.0 this project aims for, per shape and method: 1.5x for CxGrad
# and 1.3x for MAML at the paper's shape, 2x at the book's Omniglot shapes.
GOALS = {
    ("paper-84-conv4-48", "cxgrad"): 1.5,
    ("paper-84-conv4-48", "maml"): 1.3,
    ("omniglot-28-conv4-32", "cxgrad"): 2.0,
    ("omniglot-28-conv4-32", "maml"): 2.0,
    ("omniglot-28-conv4-64", "cxgrad"): 2.0,
    ("omniglot-28-conv4-64", "maml"): 2.0,
}


def goal_verdict(shape: str, method: str, ratio: float) -> str:
    """``goal 1.5x met`` or ``goal 1.5x not met``: the ratio against its shape's goal."""
    goal = GOALS[(shape, method)]
    return f"goal {goal:.1f}x {'met' if ratio >= goal else 'not met'}"


class BuiltStep(NamedTuple):
    """One configuration's training step, and what it is made of."""

    step: Callable[[], None]
    learner: Any
    params: dict
    batch: Any
    batched: bool
    task_parallel: Any


def _from_first(name: str, *modules: str):
    """``name`` from the first of ``modules`` that the imported cxgrad has: this checkout's
    layout (0.4) or a release's (0.3 kept these at the package's root); None if none has it."""
    import importlib

    for module in modules:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    return None


def build_step(method: str, shape_name: str, threads: int) -> BuiltStep:
    """The step ``cxgrad train`` takes on a CPU, with whichever ``cxgrad`` is first on
    ``sys.path``: the version's fastest CPU path and CPU set-up, Adam, random inputs."""
    import torch

    from cxgrad.data.episodes import TaskBatch
    from cxgrad.meta import MetaConfig, MetaLearner
    from cxgrad.models import Conv4Config

    use_batched_path = _from_first("use_batched_path", "cxgrad.meta.execution", "cxgrad.device")

    torch.set_num_threads(threads)
    # the CPU set-up the trainer applies, in versions that have one
    configure_cpu = _from_first("configure_cpu", "cxgrad.training._cpu_memory", "cxgrad.runtime")
    if configure_cpu is not None:
        configure_cpu()
    ways, shots, queries, channels, size, filters, tasks = SHAPES[shape_name]
    learner = MetaLearner(
        Conv4Config(ways=ways, in_channels=channels, image_size=size, filters=filters),
        MetaConfig(method=method),
    )
    batched = _batched_on_cpu(use_batched_path, learner)
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(ways)
    batch = TaskBatch(
        torch.rand(tasks, ways * shots, channels, size, size, generator=g),
        labels.repeat_interleave(shots).repeat(tasks, 1),
        torch.rand(tasks, ways * queries, channels, size, size, generator=g),
        labels.repeat_interleave(queries).repeat(tasks, 1),
    )
    params = {k: v.requires_grad_() for k, v in learner.init_params(0).items()}
    optimizer = torch.optim.Adam(params.values(), lr=1e-3)
    task_parallel = _task_parallel_on_cpu(learner, batched)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)  # written out: a release may lack meta.step
        if task_parallel is not None:
            loss, _ = task_parallel(params, batch)
        else:
            loss, _ = learner.meta_batch_loss(params, batch, batched=batched)
            loss.backward()
        float(loss.detach())
        optimizer.step()

    return BuiltStep(step, learner, params, batch, batched, task_parallel)


def child(method: str, shape_name: str, iterations: int, warmup: int, threads: int) -> dict:
    """Time one configuration with whichever ``cxgrad`` is first on ``sys.path``."""
    import torch

    import cxgrad

    built = build_step(method, shape_name, threads)
    for _ in range(warmup):
        built.step()
    start = time.perf_counter()
    for _ in range(iterations):
        built.step()
    seconds = (time.perf_counter() - start) / iterations
    tasks = SHAPES[shape_name][-1]
    return {
        "seconds_per_iteration": seconds,
        "tasks_per_second": tasks / seconds,
        "batched": built.batched,
        "task_workers": built.task_parallel.workers if built.task_parallel is not None else 0,
        "version": getattr(cxgrad, "__version__", "?"),
        "package": str(Path(cxgrad.__file__).parent),
        "torch": torch.__version__,
    }


def _batched_on_cpu(use_batched_path, learner) -> bool:
    """The path a trainer takes on a CPU: ``--path fastest`` where the version has it
    (which also runs the query pass channels-last), else its ``auto``."""
    import torch

    paths = _from_first("EXECUTION_PATHS", "cxgrad.meta.execution", "cxgrad.device")
    cpu = torch.device("cpu")
    if "fastest" in paths:
        uses_channels_last_query = _from_first(
            "uses_channels_last_query", "cxgrad.meta.execution", "cxgrad.device"
        )
        learner.channels_last_query = uses_channels_last_query("fastest", cpu)
        return use_batched_path("fastest", cpu, learner.model)
    return use_batched_path("auto", cpu)


def _task_parallel_on_cpu(learner, batched: bool):
    """The trainer's task-parallel meta-gradient on a CPU with ``--path fastest``, in
    versions that have one (``cxgrad.meta.task_parallel``); else None."""
    import torch

    try:
        from cxgrad.meta.task_parallel import cpu_task_parallel
    except ImportError:
        return None
    return cpu_task_parallel(learner, "fastest", torch.device("cpu"), batched)


def run_child(root: Path, method: str, shape: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", method, shape]
    cmd += ["--iterations", str(args.iterations), "--warmup", str(args.warmup)]
    cmd += ["--threads", str(args.threads)]
    # The version under test first on the path; nothing inherited may shadow it.
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": str(args.threads)}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root)
    if result.returncode != 0:
        raise SystemExit(f"{root.name} {method} {shape} failed:\n{result.stderr[-2000:]}")
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    if Path(measured["package"]).resolve() != (root / "cxgrad").resolve():
        raise SystemExit(f"imported {measured['package']}, expected {root / 'cxgrad'}")
    return measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="v0.2.0", help="git tag or commit to compare with")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=5, help="timed steps per process")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved processes each")
    parser.add_argument("--json", help="also write every measurement to this JSON file")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "SHAPE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name in ("threads", "iterations", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.child:
        print(json.dumps(child(*args.child, args.iterations, args.warmup, args.threads)))
        return 0
    from cxgrad.hardware import cpu_name  # this checkout's (the child may import a release)

    with tempfile.TemporaryDirectory(prefix="cxgrad-baseline-") as tmp:
        worktree = Path(tmp) / "baseline"
        add = ["git", "-C", str(REPO), "worktree", "add", "--detach", str(worktree)]
        subprocess.run([*add, args.baseline], check=True, capture_output=True)
        try:
            rows = compare(worktree, args)
        finally:
            remove = ["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)]
            subprocess.run(remove, check=False, capture_output=True)
    first = rows[0]
    print(
        f"CPU: {cpu_name()}, {args.threads} thread(s); torch {first['torch']}; "
        f"{args.iterations} timed step(s) after {args.warmup} warm-up per process, median of "
        f"{args.repeats} interleaved processes per version; second order, 5 inner steps"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def compare(worktree: Path, args: argparse.Namespace) -> list[dict]:
    from cxgrad.hardware import cpu_name

    header = (
        f"{'shape':22s} {'method':7s} {args.baseline + ' s/it':>12s} {'now s/it':>9s} "
        f"{'now tasks/s':>11s} {'ratio':>6s}  {'path now':13s}  goal"
    )
    print(header, flush=True)
    rows = []
    for shape in args.shapes:
        for method in args.methods:
            runs: dict[str, list[dict]] = {"baseline": [], "now": []}
            for _ in range(args.repeats):
                runs["baseline"].append(run_child(worktree, method, shape, args))
                runs["now"].append(run_child(REPO, method, shape, args))
            base = statistics.median(r["seconds_per_iteration"] for r in runs["baseline"])
            now = statistics.median(r["seconds_per_iteration"] for r in runs["now"])
            path = "batched" if runs["now"][0]["batched"] else "sequential"
            workers = runs["now"][0].get("task_workers", 0)
            path += f" x{workers}" if workers else ""
            print(
                f"{shape:22s} {method:7s} {base:12.3f} {now:9.3f} "
                f"{SHAPES[shape][-1] / now:11.2f} "
                f"{base / now:6.2f}  {path:13s}  {goal_verdict(shape, method, base / now)}",
                flush=True,
            )
            rows.append(
                {
                    "shape": shape,
                    "method": method,
                    "threads": args.threads,
                    "baseline": args.baseline,
                    "baseline_seconds": base,
                    "now_seconds": now,
                    "ratio": base / now,
                    "path_now": path,
                    "goal": GOALS[(shape, method)],
                    "runs": runs,
                    "cpu": cpu_name(),
                    "torch": runs["now"][0]["torch"],
                }
            )
    return rows


if __name__ == "__main__":
    sys.exit(main())
