"""How far a CPU meta-training step is from the cores' arithmetic peak, and what each speed-up
goal of ``benchmarks/cpu_step.py`` asks of it.

    python benchmarks/cpu_roofline.py                 # this checkout, 2 threads, every shape
    python benchmarks/cpu_roofline.py --goals benchmarks/results/cpu_step-amd-epyc-2threads.json

For every shape and method of ``cpu_step.py``, the step that script times (the trainer's
fastest CPU path): its floating-point operations (``torch.utils.flop_counter``, which counts
the convolutions and matrix products of the forward, backward and double backward), its
median time, the rate that makes, and the share of the operators' CPU time spent in
convolution kernels (PyTorch's profiler, one more step). The cores' peak is measured as
float32 matrix multiplication (``torch.mm``, 2048x2048) with the same threads.

With ``--goals`` (a JSON that ``cpu_step.py --json`` wrote on this machine) it also prints
the step time each goal asks for (the release's time divided by the goal), the rate that
would need, and by what factor the time outside the convolutions would have to shrink if
the convolutions kept their share of the step: the part of the step that any remaining
speed-up has to come from. Those lines take the step's time from the JSON, measured back
to back with the release's, not from this run: a shared machine's speed drifts by 10-20%
within an hour, and a goal is a ratio of two times measured together.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

HERE = Path(__file__).resolve().parent


def _cpu_step():
    """``benchmarks/cpu_step.py`` as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("cpu_step", HERE / "cpu_step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def matmul_peak(threads: int, size: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of the fastest of ``repeats`` float32 ``size`` x ``size`` products."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def measure(cpu_step, method: str, shape: str, threads: int, steps: int) -> dict:
    """FLOPs, median time and convolution share of one configuration's step. The
    FLOPs and the share are those of the step's arithmetic with its tasks in one thread (the
    profiler and the counter see the calling thread); the time is the trainer's step."""
    built = cpu_step.build_step(method, shape, threads)
    for _ in range(2):  # warm-up
        built.step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        built.step()
        times.append(time.perf_counter() - start)

    from cxgrad.meta.step import meta_gradient

    def arithmetic(batched: bool) -> None:  # the step's arithmetic, in this thread
        meta_gradient(built.learner, built.params, built.batch, batched)

    # Counted task by task: the same function as the batched path's, whose grouped
    # convolutions' backward the counter overcounts (it takes them for dense ones).
    with FlopCounterMode(display=False) as counter:
        arithmetic(batched=False)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        arithmetic(built.batched)
    self_times = [(e.key, e.self_cpu_time_total) for e in prof.key_averages()]
    total = sum(t for _, t in self_times)
    convolution = sum(t for key, t in self_times if "convolution" in key)
    return {
        "shape": shape,
        "method": method,
        "gflop": counter.get_total_flops() / 1e9,
        "seconds": statistics.median(times),
        "convolution_share": convolution / total,
    }


def goal_row(row: dict, goal: dict, peak: float) -> str:
    """What the goal asks: its step time, that time's rate, the non-convolution shrink."""
    target = goal["baseline_seconds"] / goal["goal"]
    convolution = row["convolution_share"] * row["seconds"]
    rest = row["seconds"] - convolution
    allowed = target - convolution
    shrink = f"{rest / allowed:.1f}x" if allowed > 0 else "impossible"
    return (
        f"goal {goal['goal']:.1f}x: {target:.3f} s, {row['gflop'] / target:.0f} GFLOP/s "
        f"({row['gflop'] / target / peak:.0%} of peak); the rest {rest:.3f} s -> "
        f"{max(allowed, 0):.3f} s ({shrink})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cpu_step = _cpu_step()
    parser.add_argument("--shapes", nargs="+", default=list(cpu_step.SHAPES))
    parser.add_argument("--methods", nargs="+", default=list(cpu_step.METHODS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per configuration")
    parser.add_argument("--goals", help="a cpu_step.py --json file measured on this machine")
    args = parser.parse_args()
    for shape in args.shapes:
        if shape not in cpu_step.SHAPES:
            parser.error(f"--shapes: unknown shape {shape!r}; choose from {list(cpu_step.SHAPES)}")
    for method in args.methods:
        if method not in cpu_step.METHODS:
            parser.error(f"--methods: unknown method {method!r}; choose from {cpu_step.METHODS}")
    if args.threads < 1 or args.steps < 1:
        parser.error(f"--threads and --steps must be at least 1, got {args.threads}, {args.steps}")
    goals = {}
    if args.goals:
        path = Path(args.goals)
        if not path.is_file():
            parser.error(f"--goals: no file {path}; write one with cpu_step.py --json {path}")
        goals = {(r["shape"], r["method"]): r for r in json.loads(path.read_text())}

    from cxgrad.hardware import cpu_name

    peak = matmul_peak(args.threads)
    print(f"CPU: {cpu_name()}, {args.threads} thread(s); torch {torch.__version__}")
    print(f"peak: float32 matrix product 2048x2048, {peak:.0f} GFLOP/s")
    print(
        f"{'shape':22s} {'method':7s} {'GFLOP':>7s} {'s/step':>7s} {'GFLOP/s':>8s} "
        f"{'of peak':>7s} {'conv share':>10s}"
    )
    for shape in args.shapes:
        for method in args.methods:
            row = measure(cpu_step, method, shape, args.threads, args.steps)
            rate = row["gflop"] / row["seconds"]
            line = (
                f"{shape:22s} {method:7s} {row['gflop']:7.2f} {row['seconds']:7.3f} "
                f"{rate:8.0f} {rate / peak:7.0%} {row['convolution_share']:10.0%}"
            )
            if (shape, method) in goals:
                goal = goals[(shape, method)]
                measured_with_release = {**row, "seconds": goal["now_seconds"]}
                line += f"  beside the release {goal['now_seconds']:.3f} s: "
                line += goal_row(measured_with_release, goal, peak)
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
