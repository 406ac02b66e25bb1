"""Tiny float64 networks and tasks for property and finite-difference tests, and the tiny
synthetic training runs of the training, course and CLI tests."""

from __future__ import annotations

import torch

from cxgrad.meta import MetaConfig, MetaLearner
from cxgrad.models import Conv4Config
from cxgrad.runs import TrainConfig

# torch refuses eps = 0 in training-mode BatchNorm; 1e-30 is zero to float64 next to the
# variances in these tests, so "exact" invariance checks use it.
NO_EPS = 1e-30


def tiny_model(bn_eps: float = 1e-5, ways: int = 3) -> Conv4Config:
    """16x16 inputs survive four 2x2 pools (16 -> 1); 4 filters keep finite differences fast."""
    return Conv4Config(ways=ways, in_channels=1, image_size=16, filters=4, bn_eps=bn_eps)


def tiny_learner(method: str, bn_eps: float = 1e-5, **meta) -> MetaLearner:
    meta.setdefault("inner_steps_train", 2)
    meta.setdefault("inner_steps_eval", 2)
    meta.setdefault("inner_lr", 0.1)
    meta.setdefault("context_dim", 6)
    meta.setdefault("context_hidden", 5)
    return MetaLearner(tiny_model(bn_eps), MetaConfig(method=method, **meta))


def tiny_task(seed: int = 0, ways: int = 3, shots: int = 2, queries: int = 2):
    g = torch.Generator().manual_seed(seed)
    x_s = torch.rand(ways * shots, 1, 16, 16, generator=g, dtype=torch.float64)
    x_q = torch.rand(ways * queries, 1, 16, 16, generator=g, dtype=torch.float64)
    y_s = torch.arange(ways).repeat_interleave(shots)
    y_q = torch.arange(ways).repeat_interleave(queries)
    return x_s, y_s, x_q, y_q


def double_params(learner: MetaLearner, seed: int = 0) -> dict[str, torch.Tensor]:
    return {k: v.double() for k, v in learner.init_params(seed).items()}


def tiny_run_config(**changes) -> TrainConfig:
    """A CxGrad run on 16x16 synthetic glyphs that trains in a fraction of a second:
    3-way 1-shot, 4 filters, 6 iterations validated every 2 on 3 tasks, 2 inner steps."""
    base = dict(
        method="cxgrad",
        dataset="synthetic",
        ways=3,
        shots=1,
        queries=2,
        image_size=16,
        filters=4,
        meta_batch=2,
        iterations=6,
        val_every=2,
        val_tasks=3,
        keep_best=2,
        inner_steps_train=2,
        inner_steps_eval=2,
        context_dim=8,
        context_hidden=8,
    )
    return TrainConfig(**dict(base, **changes))
