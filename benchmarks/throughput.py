"""Meta-training throughput and peak memory at the paper's shapes, sequential vs batched.

Each (shape, method, path) runs in a fresh subprocess so that its peak memory is its own:
CUDA's ``max_memory_allocated`` on a GPU, the process's peak resident set size on the CPU
(which includes the ~0.5 GB of the torch library itself). One measured iteration = every
task's inner loop, the query losses, one backward through all of it (second order unless
--first-order) and one Adam step. ``sequential`` loops over the tasks in Python and keeps
every task's graph for one backward, as the authors' code does; ``batched`` runs all tasks
at once with torch.func.vmap. The ratio column is batched / sequential tasks per second.

    python benchmarks/throughput.py                  # every method, shape and path
    python benchmarks/throughput.py --methods cxgrad --shapes miniimagenet-5w1s --iterations 20

Inputs are random tensors of the right shape: throughput does not depend on pixel values.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import torch

from cxgrad.data.episodes import TaskBatch
from cxgrad.device import resolve_device
from cxgrad.meta import MetaConfig, MetaLearner
from cxgrad.models import Conv4Config

# name: (ways, shots, queries, channels, image size, filters, meta-batch)
SHAPES = {
    "miniimagenet-5w1s": (5, 1, 15, 3, 84, 48, 4),
    "miniimagenet-5w5s": (5, 5, 15, 3, 84, 48, 2),
    "omniglot-5w1s": (5, 1, 15, 1, 28, 64, 4),
}


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


def measure(
    method: str,
    shape_name: str,
    path: str,
    iterations: int,
    warmup: int,
    device_name: str,
    first_order: bool,
    steps: int,
) -> dict:
    device = resolve_device(device_name)
    shape = SHAPES[shape_name]
    ways, _, _, channels, size, filters, batch_size = shape
    learner = MetaLearner(
        Conv4Config(ways=ways, in_channels=channels, image_size=size, filters=filters),
        MetaConfig(method=method, first_order=first_order, inner_steps_train=steps),
    )
    params = {k: v.to(device).requires_grad_() for k, v in learner.init_params(0).items()}
    optimizer = torch.optim.Adam(params.values(), lr=1e-3)
    batch = random_batch(shape, device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss, _ = learner.meta_batch_loss(params, batch, batched=path == "batched")
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20
        memory_kind = "cuda max_memory_allocated"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        memory_kind = "process peak RSS"
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
        "peak_memory_mib": peak,
        "memory_kind": memory_kind,
        "device": describe(device),
        "torch": torch.__version__,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    methods = ["maml", "anil", "boil", "cxgrad"]
    parser.add_argument("--methods", nargs="+", default=methods, choices=methods)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument(
        "--paths", nargs="+", default=["sequential", "batched"], choices=["sequential", "batched"]
    )
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5, help="inner steps")
    parser.add_argument("--first-order", action="store_true")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument(
        "--one", nargs=3, metavar=("METHOD", "SHAPE", "PATH"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    options = (args.iterations, args.warmup, args.device, args.first_order, args.steps)
    if args.one:
        print(json.dumps(measure(*args.one, *options)))
        return 0
    results = []
    print(
        f"{'shape':18s} {'method':7s} {'path':10s} {'s/iter':>8s} {'tasks/s':>8s} "
        f"{'peak MiB':>9s} {'ratio':>6s}"
    )
    for shape in args.shapes:
        for method in args.methods:
            by_path = {}
            for path in args.paths:
                cmd = [
                    sys.executable,
                    __file__,
                    "--one",
                    method,
                    shape,
                    path,
                    "--iterations",
                    str(args.iterations),
                    "--warmup",
                    str(args.warmup),
                    "--device",
                    args.device,
                    "--steps",
                    str(args.steps),
                ]
                if args.first_order:
                    cmd.append("--first-order")
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                by_path[path] = r
                results.append(r)
                base = by_path.get("sequential")
                ratio = f"{r['tasks_per_second'] / base['tasks_per_second']:6.2f}" if base else ""
                print(
                    f"{shape:18s} {method:7s} {path:10s} {r['seconds_per_iteration']:8.3f} "
                    f"{r['tasks_per_second']:8.2f} {r['peak_memory_mib']:9.0f} {ratio}",
                    flush=True,
                )
    first = results[0]
    print(
        f"device: {first['device']}; torch {first['torch']}; memory: {first['memory_kind']}; "
        f"{first['order']} order, {args.steps} inner steps, {args.iterations} timed "
        f"iteration(s) after {args.warmup} warm-up"
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
