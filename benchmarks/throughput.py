"""Meta-training throughput and peak memory at the paper's shapes, sequential vs batched.

One measured iteration is what ``cxgrad train`` does per step: every task's inner loop, the
query losses, one backward through all of it (second order unless --first-order), reading
the loss back to the host, and one Adam step. The paths:

* ``sequential`` loops over the tasks in Python and keeps every task's graph for one
  backward, as the authors' code does (the readable reference);
* ``batched`` runs all tasks at once: Conv4 folds the tasks into grouped convolutions
  (``Conv4Config.forward_tasks``); a backbone without that is batched with torch.func.vmap;
* ``sequential+graph`` and ``batched+graph`` (CUDA only) capture the same computation once
  as a CUDA graph and replay it (``cxgrad.training.cuda_graph``); ``batched+graph`` is what
  ``cxgrad train`` uses on a GPU by default.

* ``batched+compile`` (only when asked for with ``--paths``): the batched meta-batch loss
  through ``torch.compile``; its first warm-up step includes the compilation.

The ratio column is each path's tasks per second over the sequential path's, measured in
the same run. Peak memory is the most tensor memory alive at once, counting the parameters,
the meta-batch and Adam's state: CUDA's ``max_memory_allocated`` on a GPU; on the CPU the
same quantity from the allocation events of PyTorch's profiler over one extra, untimed step
(the JSON also has the process's peak resident set size, which includes the torch library
and freed memory the C allocator keeps). On the CPU each configuration runs in a fresh
subprocess. The warm-up column is the time of the warm-up steps: CUDA-graph capture or
compilation happens there.

    python benchmarks/throughput.py                  # every method, shape and path
    python benchmarks/throughput.py --methods cxgrad --shapes miniimagenet-5w1s --iterations 20

Inputs are random tensors of the right shape: throughput does not depend on pixel values.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterable

import torch

from cxgrad.data.episodes import TaskBatch
from cxgrad.device import resolve_device
from cxgrad.meta import MetaConfig, MetaLearner
from cxgrad.models import Conv4Config
from cxgrad.training.cuda_graph import GraphedMetaGradient

# name: (ways, shots, queries, channels, image size, filters, meta-batch)
SHAPES = {
    "miniimagenet-5w1s": (5, 1, 15, 3, 84, 48, 4),
    "miniimagenet-5w5s": (5, 5, 15, 3, 84, 48, 2),
    "omniglot-5w1s": (5, 1, 15, 1, 28, 64, 4),
}
PATHS = ("sequential", "batched", "sequential+graph", "batched+graph", "batched+compile")
DEFAULT_PATHS = PATHS[:4]  # compiling takes minutes per configuration: only on request
PAPER_ITERATIONS = 50_000  # the paper's miniImageNet meta-training length


def random_batch(shape, device) -> TaskBatch:
    ways, shots, queries, channels, size, _, batch = shape
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(ways)
    return TaskBatch(
        torch.rand(batch, ways * shots, channels, size, size, generator=g),
        labels.repeat_interleave(shots).repeat(batch, 1),
        torch.rand(batch, ways * queries, channels, size, size, generator=g),
        labels.repeat_interleave(queries).repeat(batch, 1),
    ).to(device)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    return f"CPU ({cpu}, {torch.get_num_threads()} threads)"


def storage_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind ``tensors`` (views counted once)."""
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())


def cpu_tensor_peak(step: Callable[[], object]) -> int:
    """Most bytes of CPU tensor memory that ``step()`` has allocated at any one time, from
    the allocation and free events of PyTorch's profiler. Tensors freed by the step that
    existed before it count negatively, so add their bytes to get the total peak."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=activities, profile_memory=True) as profiler:
        step()
    events = [e for e in profiler.profiler.kineto_results.events() if e.name() == "[memory]"]
    if not events:
        raise RuntimeError(
            f"torch {torch.__version__}'s profiler recorded no allocation events, so the CPU's "
            "peak memory cannot be measured (checked with torch 2.14)"
        )
    live = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        if event.device_type() == torch.autograd.DeviceType.CPU:
            live += event.nbytes()
            peak = max(peak, live)
    return peak


def measure(
    method: str,
    shape_name: str,
    path: str,
    iterations: int,
    warmup: int,
    device_name: str,
    first_order: bool,
    steps: int,
    memory: bool = True,
) -> dict:
    """One configuration, timed; ``memory=False`` skips the CPU's profiled memory step."""
    device = resolve_device(device_name)
    if path.endswith("+graph") and device.type != "cuda":
        raise SystemExit(f"path {path} needs a CUDA device")
    if warmup < 1:
        raise SystemExit(
            f"--warmup must be at least 1 (capture and compilation happen there), got {warmup}"
        )
    shape = SHAPES[shape_name]
    ways, _, _, channels, size, filters, batch_size = shape
    if device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
    learner = MetaLearner(
        Conv4Config(ways=ways, in_channels=channels, image_size=size, filters=filters),
        MetaConfig(method=method, first_order=first_order, inner_steps_train=steps),
    )
    params = {k: v.to(device).requires_grad_() for k, v in learner.init_params(0).items()}
    optimizer = torch.optim.Adam(params.values(), lr=1e-3)
    batch = random_batch(shape, device)
    batched = path.startswith("batched")
    started = time.perf_counter()  # warm-up time includes capture and compilation

    if path.endswith("+compile"):
        compiled = torch.compile(
            lambda p, xs, ys, xq, yq: learner.meta_batch_loss(
                p, TaskBatch(xs, ys, xq, yq), batched=True
            )
        )

        def meta_loss(p, b):
            return compiled(p, *b.tensors())
    else:

        def meta_loss(p, b):
            return learner.meta_batch_loss(p, b, batched=batched)

    if path.endswith("+graph"):
        graphed = GraphedMetaGradient(meta_loss, params, batch)
        # As in training, where tasks are sampled into the graph's input buffers: the graph
        # path holds one meta-batch, like the eager paths.
        batch = graphed.static

        def step():
            loss, _ = graphed(batch)
            float(loss.detach())  # the trainer reads the loss back every iteration
            optimizer.step()
    else:

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss, _ = meta_loss(params, batch)
            loss.backward()
            float(loss.detach())
            optimizer.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    warmup_seconds = time.perf_counter() - started
    extra, peak, memory_kind = {}, None, "not measured"
    if device.type == "cpu" and memory:
        alive = [*params.values(), *batch.tensors()]
        alive += [p.grad for p in params.values() if p.grad is not None]
        alive += [t for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t)]
        peak = (storage_bytes(alive) + cpu_tensor_peak(step)) / 2**20
        memory_kind = "tensor peak (CPU: profiler allocation events)"
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = (torch.cuda.max_memory_allocated(device) - baseline) / 2**20
        memory_kind = "tensor peak (CUDA max_memory_allocated)"
    else:
        extra["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB
    seconds = time.perf_counter() - start
    return {
        "method": method,
        "shape": shape_name,
        "path": path,
        "meta_batch": batch_size,
        "inner_steps": steps,
        "order": "first" if first_order else "second",
        "iterations": iterations,
        "seconds_per_iteration": seconds / iterations,
        "tasks_per_second": batch_size * iterations / seconds,
        "hours_per_50k": PAPER_ITERATIONS * seconds / iterations / 3600,
        "warmup_seconds": warmup_seconds,
        "peak_memory_mib": peak,
        "memory_kind": memory_kind,
        **extra,
        "device": describe(device),
        "torch": torch.__version__,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    methods = ["maml", "anil", "boil", "cxgrad"]
    parser.add_argument("--methods", nargs="+", default=methods, choices=methods)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--paths", nargs="+", choices=PATHS, help="default: all the device has")
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5, help="inner steps")
    parser.add_argument("--first-order", action="store_true")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run each configuration in its own process (default: on the CPU only, where "
        "peak memory is the process's; on a GPU the allocator's peak is reset instead)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="run every configuration this many times, the paths interleaved, and report "
        "the median (for noisy machines; the CPU's memory step runs in the first only)",
    )
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--no-memory", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--one", nargs=3, metavar=("METHOD", "SHAPE", "PATH"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--cudnn-benchmark",
        action="store_true",
        help="let cuDNN time its algorithms and keep the fastest (torch.backends.cudnn.benchmark)",
    )
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    options = (args.iterations, args.warmup, args.device, args.first_order, args.steps)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    if args.one:
        print(json.dumps(measure(*args.one, *options, memory=not args.no_memory)))
        return 0
    on_gpu = resolve_device(args.device).type == "cuda"
    paths = args.paths or [p for p in DEFAULT_PATHS if on_gpu or not p.endswith("+graph")]
    isolate = (not on_gpu) if args.isolate is None else args.isolate
    results = []
    print(
        f"{'shape':18s} {'method':7s} {'path':17s} {'s/iter':>8s} {'tasks/s':>8s} "
        f"{'peak MiB':>9s} {'ratio':>6s} {'50k iters':>9s} {'warm-up s':>9s}"
    )
    for shape in args.shapes:
        for method in args.methods:
            # Repetitions interleave the paths, so that a slow spell of the machine does not
            # fall on one path only; each path reports its median run.
            runs: dict[str, list[dict]] = {path: [] for path in paths}
            for repeat in range(args.repeats):
                for path in list(runs):
                    try:
                        if isolate:
                            r = _measure_in_subprocess(method, shape, path, args, repeat == 0)
                        else:
                            r = measure(method, shape, path, *options, memory=repeat == 0)
                    except (RuntimeError, subprocess.CalledProcessError) as err:
                        # Report and go on: one failing configuration must not hide the others.
                        reason = getattr(err, "stderr", None) or str(err)
                        print(f"{shape:18s} {method:7s} {path:17s} FAILED: {reason.strip()[-300:]}")
                        del runs[path]
                        continue
                    runs[path].append(r)
            base = None
            for path, measured in runs.items():
                r = _median_run(measured)
                results.append(r)
                base = base or (r if path == "sequential" else None)
                ratio = f"{r['tasks_per_second'] / base['tasks_per_second']:6.2f}" if base else ""
                print(
                    f"{shape:18s} {method:7s} {path:17s} {r['seconds_per_iteration']:8.3f} "
                    f"{r['tasks_per_second']:8.2f} {r['peak_memory_mib']:9.0f} {ratio:>6s} "
                    f"{r['hours_per_50k']:8.1f}h {r['warmup_seconds']:9.1f}",
                    flush=True,
                )
    if not results:
        return 1
    first = results[0]
    print(
        f"device: {first['device']}; torch {first['torch']}; memory: {first['memory_kind']}; "
        f"{first['order']} order, {args.steps} inner steps, {args.iterations} timed "
        f"iteration(s) after {args.warmup} warm-up, median of {args.repeats} interleaved "
        f"run(s); cudnn.benchmark {args.cudnn_benchmark}; "
        f"50k iters = hours for {PAPER_ITERATIONS:,} meta-iterations at this rate "
        "(no validation)"
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


def _median_run(runs: list[dict]) -> dict:
    """The run with the median time (the slower middle one for an even count), with the
    memory of the run that measured it and every run's time."""
    by_time = sorted(runs, key=lambda r: r["seconds_per_iteration"])
    median = dict(by_time[len(by_time) // 2])
    with_memory = [r for r in runs if r["peak_memory_mib"] is not None]
    median["peak_memory_mib"] = max(r["peak_memory_mib"] for r in with_memory)
    median["memory_kind"] = with_memory[0]["memory_kind"]
    median["repeats"] = len(runs)
    median["seconds_per_iteration_runs"] = [r["seconds_per_iteration"] for r in runs]
    return median


def _measure_in_subprocess(
    method: str, shape: str, path: str, args: argparse.Namespace, memory: bool
) -> dict:
    cmd = [sys.executable, __file__, "--one", method, shape, path]
    cmd += ["--iterations", str(args.iterations), "--warmup", str(args.warmup)]
    cmd += ["--device", args.device, "--steps", str(args.steps)]
    if args.first_order:
        cmd.append("--first-order")
    if args.cudnn_benchmark:
        cmd.append("--cudnn-benchmark")
    if not memory:
        cmd.append("--no-memory")
    env = {**os.environ, "KINETO_LOG_LEVEL": "5"}  # the profiler's start/stop chatter
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
