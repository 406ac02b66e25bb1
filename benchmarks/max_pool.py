"""Conv4's 2x2 max-pooling on a CPU: ``F.max_pool2d`` against ``_pooling.max_pool2x2``.

    python benchmarks/max_pool.py                 # one thread, the support set's shapes
    python benchmarks/max_pool.py --threads 2

For each NCHW shape the inner loop pools (the support set: 5 images, Conv4-48 at 84x84 and
Conv4-64 folded over 4 tasks at 28x28), the median milliseconds of the forward alone and of
the forward, backward and double backward together (a second-order meta-gradient goes
through all three), and whether the two give the same bits (values, gradient and
second-order gradient, on inputs with ties).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from cxgrad.models._pooling import max_pool2x2

SHAPES = (
    (5, 48, 84, 84),  # paper: layer 1, 2, 3 of one task's support set
    (5, 48, 42, 42),
    (5, 48, 21, 21),
    (5, 256, 28, 28),  # Omniglot Conv4-64, 4 tasks folded into channels: layers 1, 2
    (5, 256, 14, 14),
)


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def plain_pool(h: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(h, 2)


def through_second_order(pool, x: torch.Tensor, scale: torch.Tensor) -> list[torch.Tensor]:
    """Pooled values, the gradient of a per-channel scale through the pool's backward, and
    a second-order gradient through its double backward."""
    w = scale.clone().requires_grad_()
    y = pool(x * w)
    (g,) = torch.autograd.grad(y.pow(3).sum(), w, create_graph=True)
    (gg,) = torch.autograd.grad((g * g).sum(), w)
    return [y.detach(), g.detach(), gg]


def measure(shape: tuple[int, ...], repeats: int) -> tuple[list[float], bool]:
    """Milliseconds of both pools (forward; through second order) and whether they agree."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 3, shape, generator=g).float()  # ties in most windows
    x += torch.rand(shape, generator=g) * (torch.rand(shape, generator=g) > 0.5)
    scale = torch.rand(1, shape[1], 1, 1, generator=g) + 0.5
    pools = (plain_pool, max_pool2x2)
    times = [median_ms(lambda pool=pool: pool(x), repeats) for pool in pools]
    times += [
        median_ms(lambda pool=pool: through_second_order(pool, x, scale), repeats) for pool in pools
    ]
    results = [through_second_order(pool, x, scale) for pool in pools]
    return times, all(torch.equal(a, b) for a, b in zip(*results, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    if args.threads < 1 or args.repeats < 1:
        parser.error(f"--threads and --repeats must be at least 1: {args.threads}, {args.repeats}")
    torch.set_num_threads(args.threads)
    print(f"{args.threads} thread(s), torch {torch.__version__}; ms, median of {args.repeats}")
    print(
        f"{'shape':18s} {'max_pool2d fwd':>14s} {'max_pool2x2 fwd':>15s} "
        f"{'max_pool2d 2nd':>14s} {'max_pool2x2 2nd':>15s}  same bits"
    )
    for shape in SHAPES:
        (a, b, c, d), same = measure(shape, args.repeats)
        print(f"{str(list(shape)):18s} {a:14.2f} {b:15.2f} {c:14.2f} {d:15.2f}  {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
