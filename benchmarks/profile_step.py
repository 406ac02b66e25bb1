"""Where one CPU training step's time goes, at the Omniglot shape of the course's runs.

    python benchmarks/profile_step.py [--methods maml cxgrad] [--filters 32] [--threads 1]

One meta-batch of 4 synthetic 5-way 1-shot tasks (15 queries), Conv4 at 28x28, 5 inner
steps, second order, forward and backward, after two warm-up steps; prints the step's wall
time and PyTorch profiler's operators by self CPU time. Synthetic glyphs have Omniglot's
shape, so no data is needed.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

from cxgrad.data import EpisodeSampler, load_synthetic
from cxgrad.meta import METHODS, MetaConfig, MetaLearner
from cxgrad.models import Conv4Config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=["maml", "cxgrad"], choices=METHODS)
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_synthetic(num_classes=(20, 5, 5), images_per_class=20, image_size=28)
    batch = EpisodeSampler(data.split("train"), 5, 1, 15).batch(0, 4)
    for method in args.methods:
        learner = MetaLearner(Conv4Config(filters=args.filters), MetaConfig(method=method))
        params = {k: v.requires_grad_() for k, v in learner.init_params(0).items()}
        for _ in range(2):  # warm-up: allocator, oneDNN primitive caches
            loss, _ = learner.meta_batch_loss(params, batch)
            loss.backward()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            loss, _ = learner.meta_batch_loss(params, batch)
            loss.backward()
            seconds = time.perf_counter() - start
        print(
            f"{method}: one step {seconds:.3f} s ({args.threads} thread(s), {args.filters} filters)"
        )
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
