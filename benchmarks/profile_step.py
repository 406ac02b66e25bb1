"""Where one CPU training step's time goes, at the Omniglot shape of the course's runs.

    python benchmarks/profile_step.py [--methods maml cxgrad] [--filters 32] [--threads 2]
    python benchmarks/profile_step.py --filters 2 --image-size 16   # the overhead floor

One meta-batch of 4 synthetic 5-way 1-shot tasks (15 queries), Conv4, 5 inner steps,
second order, forward and backward, on the CPU path ``--path`` picks (``fastest`` by
default, as ``benchmarks/cpu_step.py`` times it: above 32x32 the task loop, its tasks in
one thread per core). After two warm-up steps it prints the
median and fastest wall time of ``--steps`` steps, then PyTorch profiler's operators by self
CPU time for one more step (``--shapes`` splits them by input shape). Synthetic glyphs have
Omniglot's shape, so no data is needed. With 2 filters at 16x16 the arithmetic is
negligible and the step's time is its per-operation overhead: Python, the dispatcher and
autograd's bookkeeping, which no faster kernel removes.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.profiler import ProfilerActivity, profile

from cxgrad.data import EpisodeSampler, load_synthetic
from cxgrad.meta import METHODS, MetaConfig, MetaLearner
from cxgrad.meta.execution import EXECUTION_PATHS, use_batched_path, uses_channels_last_query
from cxgrad.meta.step import meta_gradient
from cxgrad.meta.task_parallel import TaskParallelMetaGradient, cpu_task_parallel
from cxgrad.models import Conv4Config
from cxgrad.training._cpu_memory import configure_cpu


def timed_step(
    learner: MetaLearner,
    params: dict,
    batch,
    batched: bool,
    task_parallel: TaskParallelMetaGradient | None,
) -> float:
    """Seconds for one meta-batch's loss and its second-order backward, computed as the
    trainer computes it (``task_parallel`` where the path runs the tasks in threads)."""
    start = time.perf_counter()
    meta_gradient(learner, params, batch, batched, task_parallel)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=["maml", "cxgrad"], choices=METHODS)
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--path", default="fastest", choices=EXECUTION_PATHS)
    parser.add_argument("--steps", type=int, default=10, help="timed steps before the profile")
    parser.add_argument("--rows", type=int, default=12)
    parser.add_argument("--shapes", action="store_true", help="one row per input shape")
    args = parser.parse_args()
    for name in ("filters", "threads", "steps", "rows"):
        if getattr(args, name) < 1:
            parser.error(
                f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}"
            )
    if args.image_size < 16:
        parser.error(
            f"--image-size must be at least 16 (four 2x2 max-pools), got {args.image_size}"
        )
    torch.set_num_threads(args.threads)
    configure_cpu()  # as the trainer does
    cpu = torch.device("cpu")
    data = load_synthetic(num_classes=(20, 5, 5), images_per_class=20, image_size=args.image_size)
    batch = EpisodeSampler(data.split("train"), 5, 1, 15).batch(0, 4)
    for method in args.methods:
        model = Conv4Config(filters=args.filters, image_size=args.image_size)
        learner = MetaLearner(model, MetaConfig(method=method))
        learner.channels_last_query = uses_channels_last_query(args.path, cpu)
        batched = use_batched_path(args.path, cpu, model)
        parallel = cpu_task_parallel(learner, args.path, cpu, batched)
        params = {k: v.requires_grad_() for k, v in learner.init_params(0).items()}
        step = (learner, params, batch, batched, parallel)

        for _ in range(2):  # warm-up: allocator, oneDNN primitive caches
            timed_step(*step)
        times = [timed_step(*step) for _ in range(args.steps)]
        with profile(activities=[ProfilerActivity.CPU], record_shapes=args.shapes) as prof:
            timed_step(*step)
        path = ("batched" if batched else "sequential") + (
            f" x{parallel.workers}" if parallel else ""
        )
        print(
            f"{method}: one step median {statistics.median(times):.3f} s, fastest "
            f"{min(times):.3f} s ({args.steps} steps; {path} path, channels-last query "
            f"{learner.channels_last_query}; {args.threads} thread(s), {args.filters} "
            f"filters, {args.image_size}x{args.image_size})"
        )
        averages = prof.key_averages(group_by_input_shape=args.shapes)
        print(averages.table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
