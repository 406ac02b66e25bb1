"""cxgrad.analysis: the measurements behind Figures 2-5, checked on known cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import tiny_learner, tiny_task

from cxgrad.analysis import (
    LEARNING_RATE_MULTIPLIERS,
    adaptation_cka,
    adapted_features,
    inner_gradient_norms,
    landscape_measures,
    layer_groups,
    linear_cka,
    tsne,
)
from cxgrad.data.episodes import TaskBatch
from cxgrad.meta import InnerTrace


def features(n=30, d=12, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_linear_cka_identity_rotation_and_scale():
    x = features()
    q, _ = torch.linalg.qr(features(12, 12, seed=1))
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, 3.7 * x @ q) == pytest.approx(1.0)  # invariances of linear CKA
    assert linear_cka(x, features(seed=2)) < 0.7
    assert linear_cka(x, x[:, :6]) == pytest.approx(linear_cka(x[:, :6], x))  # symmetric
    with pytest.raises(ValueError, match="same examples"):
        linear_cka(x, x[:10])


def test_anil_keeps_every_representation():
    """ANIL adapts only the head: the features before and after adaptation are the same."""
    learner = tiny_learner("anil")
    params = {k: v.double() for k, v in learner.init_params(0).items()}
    x_s, y_s, x_q, _ = tiny_task()
    assert adaptation_cka(learner, params, x_s, y_s, x_q) == pytest.approx([1.0] * 4)
    before, after = adapted_features(learner, params, x_s, y_s, x_q)
    assert torch.equal(before, after)


def test_boil_changes_representations():
    learner = tiny_learner("boil", inner_lr=0.5)
    params = {k: v.double() for k, v in learner.init_params(0).items()}
    x_s, y_s, x_q, _ = tiny_task()
    cka = adaptation_cka(learner, params, x_s, y_s, x_q)
    assert len(cka) == 4 and all(0 < c <= 1 + 1e-12 for c in cka) and min(cka) < 0.999


@pytest.mark.parametrize(
    ("method", "layers"),
    [
        ("maml", ["conv1", "conv2", "conv3", "conv4", "head"]),
        ("anil", ["head"]),
        ("boil", ["conv1", "conv2", "conv3", "conv4"]),
        ("cxgrad", ["conv1", "conv2", "conv3", "conv4", "head"]),
    ],
)
def test_gradient_norms_per_layer(method, layers):
    learner = tiny_learner(method)
    params = {k: v.double() for k, v in learner.init_params(0).items()}
    assert list(layer_groups(learner)) == layers
    x_s, y_s, x_q, y_q = tiny_task()
    batch = TaskBatch(x_s[None], y_s[None], x_q[None], y_q[None])
    norms = inner_gradient_norms(learner, params, batch)
    trace = InnerTrace()
    learner.adapt(params, x_s, y_s, learner.meta.inner_steps_train, True, trace)
    head = [
        math.hypot(s["head.weight"], s["head.bias"]) for s in trace.grad_norms if "head.weight" in s
    ]
    if "head" in layers:
        assert norms["head"] == pytest.approx(sum(head) / len(head))
    assert list(norms) == layers and all(v > 0 for v in norms.values())


def test_landscape_measures_follow_equations_9_to_12():
    learner = tiny_learner("maml", inner_lr=0.05)
    params = {k: v.double() for k, v in learner.init_params(0).items()}
    x_s, y_s, _, _ = tiny_task()
    out = landscape_measures(learner, params, x_s, y_s)
    assert out["loss"].shape == out["gradient_change"].shape == (len(LEARNING_RATE_MULTIPLIERS),)
    assert LEARNING_RATE_MULTIPLIERS == (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
    assert np.isfinite(out["loss"]).all() and out["beta_smoothness"] > 0
    assert out["loss_variation"] >= 0
    # a vanishing step gives a vanishing change of gradient (Eq. 11 -> 0)
    tiny = landscape_measures(learner, params, x_s, y_s, multipliers=(1e-7,))
    assert tiny["gradient_change"][0] < 1e-5


def test_landscape_for_cxgrad_uses_the_scaled_points():
    learner = tiny_learner("cxgrad")
    params = {k: v.double() for k, v in learner.init_params(0).items()}
    x_s, y_s, _, _ = tiny_task()
    trace = InnerTrace(keep_points=True)
    learner.adapt(params, x_s, y_s, 2, True, trace)
    for point, gammas in zip(trace.points, trace.gammas, strict=True):
        assert float(point["conv1.weight"].norm()) == pytest.approx(gammas[0])
    out = landscape_measures(learner, params, x_s, y_s)
    assert np.isfinite(out["gradient_change"]).all()


def test_tsne_is_seeded():
    x = features(40, 8)
    a, b = tsne(x, seed=3), tsne(x, seed=3)
    assert a.shape == (40, 2) and np.allclose(a, b)
