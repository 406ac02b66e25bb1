"""Tiny float64 networks and tasks for property and finite-difference tests, and the tiny
synthetic training runs of the training, course and CLI tests."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cxgrad.cli import main
from cxgrad.data.episodes import TaskBatch
from cxgrad.meta import MetaConfig, MetaLearner
from cxgrad.models import Conv4Config
from cxgrad.runs import TrainConfig, load_checkpoint

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


# Shared by several test modules (no test module imports another).
def loss_and_grads(learner, params, batch, batched):
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    loss, accuracy = learner.meta_batch_loss(leaves, batch, training=True, batched=batched)
    grads = torch.autograd.grad(loss, list(leaves.values()))
    return loss.detach(), accuracy, dict(zip(leaves, grads, strict=True))


# g_phi's first layer multiplies nu, which is about 1e-5 after the warm-up step: its
# meta-gradient is that small, and float32 resolves it only to about 2e-3 of itself on
# either path (both measured against float64 on the same batch), so it gets its own bound.
FLOAT32_RTOL = {"gphi.0.weight": 1e-2}


def assert_float32_parity(vec, seq):
    """Losses close, and every meta-gradient entry within 1e-4 of the largest entry of its
    own tensor: a bound relative to the whole model's largest entry would let a tensor with
    small gradients (BatchNorm, g_phi) be entirely wrong."""
    torch.testing.assert_close(vec[0], seq[0], rtol=1e-5, atol=1e-6)
    for name, expected in seq[2].items():
        scale = float(expected.abs().max())
        assert scale > 0, f"{name}: zero meta-gradient, nothing to compare"
        error = float((vec[2][name] - expected).abs().max())
        bound = FLOAT32_RTOL.get(name, 1e-4) * scale
        assert error < bound, f"{name}: error {error:.3g}, largest entry {scale:.3g}"


def assert_float64_parity(learner, params, batch, same_accuracy=True):
    """The batched path's loss, accuracy and meta-gradient equal the sequential path's,
    to float64 round-off."""
    seq = loss_and_grads(learner, params, batch, batched=False)
    vec = loss_and_grads(learner, params, batch, batched=True)
    torch.testing.assert_close(vec[0], seq[0], rtol=1e-12, atol=1e-12)
    if same_accuracy:
        assert float(vec[1]) == float(seq[1])
    for name in params:
        torch.testing.assert_close(vec[2][name], seq[2][name], rtol=1e-9, atol=1e-12)


def task_batch(dtype, tasks=3, ways=3, shots=2, queries=2, seed=0) -> TaskBatch:
    g = torch.Generator().manual_seed(seed)
    y_s = torch.arange(ways).repeat_interleave(shots).repeat(tasks, 1)
    y_q = torch.arange(ways).repeat_interleave(queries).repeat(tasks, 1)
    return TaskBatch(
        torch.rand(tasks, ways * shots, 1, 16, 16, generator=g, dtype=dtype),
        y_s,
        torch.rand(tasks, ways * queries, 1, 16, 16, generator=g, dtype=dtype),
        y_q,
    )


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


SMALL = [
    "--ways",
    "3",
    "--shots",
    "1",
    "--queries",
    "2",
    "--filters",
    "4",
    "--meta-batch",
    "2",
    "--inner-steps",
    "1",
    "--inner-steps-eval",
    "1",
    "--val-every",
    "2",
    "--val-tasks",
    "3",
    "--no-progress",
]


def query_loss_from_context(learner, nu, x_s, y_s, x_q, y_q, steps=2):
    """The query loss as a function of the parameters with the context after the warm-up
    held at ``nu``: the reference for CxGrad's meta-gradient, whose warm-up carries no
    graph."""

    def loss(params):
        fast = learner.adapt(params, x_s, y_s, steps, first_order=False, initial_context=nu)
        return F.cross_entropy(learner.forward(fast, x_q), y_q)

    return loss


# --------------------------------------------------------------------------- meta-gradients
def directional_check(loss_fn, params, names, seed=0, eps=1e-6):
    """Compare autograd's meta-gradient with central finite differences along random
    directions, in float64."""
    leaves = {k: v.clone().requires_grad_(k in names) for k, v in params.items()}
    loss = loss_fn(leaves)
    grads = torch.autograd.grad(loss, [leaves[k] for k in names])
    g = torch.Generator().manual_seed(seed)
    for _ in range(3):
        direction = {
            k: torch.randn(params[k].shape, generator=g, dtype=torch.float64) for k in names
        }
        analytic = sum(float((gr * direction[k]).sum()) for gr, k in zip(grads, names, strict=True))
        plus = {k: v + eps * direction[k] if k in names else v for k, v in params.items()}
        minus = {k: v - eps * direction[k] if k in names else v for k, v in params.items()}
        numeric = (float(loss_fn(plus)) - float(loss_fn(minus))) / (2 * eps)
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-8)


CONVS = [f"conv{i}.weight" for i in range(1, 5)]


def assert_same_state(a, b):
    assert a["iteration"] == b["iteration"]
    for name in a["params"]:
        assert torch.equal(a["params"][name], b["params"][name]), name
    for key, state in a["optimizer"]["state"].items():
        for field in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(state[field], b["optimizer"]["state"][key][field])


def final_state(run_dir):
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")
