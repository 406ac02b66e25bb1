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


def feature_space_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA from the d x d matrices, as Kornblith et al. write it (small d only)."""
    x = x.flatten(1).double() - x.flatten(1).double().mean(0)
    y = y.flatten(1).double() - y.flatten(1).double().mean(0)
    cross = torch.linalg.matrix_norm(y.T @ x) ** 2
    return float(cross / (torch.linalg.matrix_norm(x.T @ x) * torch.linalg.matrix_norm(y.T @ y)))


@pytest.mark.parametrize("seed", range(4))
def test_linear_cka_agrees_with_the_feature_space_form(seed):
    g = torch.Generator().manual_seed(seed)
    n, d1, d2 = 75, 8 * (seed + 1), 50
    x = torch.randn(n, d1, generator=g)  # float32, as features come out of the network
    y = x[:, :1].repeat(1, d2) * torch.rand(d2, generator=g) + torch.randn(n, d2, generator=g)
    related = linear_cka(x, y)
    assert related == pytest.approx(feature_space_cka(x, y), rel=1e-12, abs=0)
    images = torch.rand(n, 3, 4, 4, generator=g, dtype=torch.float64)  # flattened as [n, 48]
    assert linear_cka(images, x) == pytest.approx(feature_space_cka(images, x), rel=1e-12)


def test_linear_cka_scales_with_the_examples_not_the_features():
    """n = 20 examples of d = 200,000 features: a d x d matrix would take 320 GB."""
    n, small, d = 20, 12, 200_000
    x, y = features(n, small, seed=3), features(n, small, seed=4) + features(n, small, seed=3)
    # An isometry into 200,000 dimensions (orthonormal columns) leaves CKA unchanged.
    lift, _ = torch.linalg.qr(features(d, small, seed=5))
    big_x = x @ lift.T
    assert big_x.shape == (n, d)
    expected = feature_space_cka(x, y)
    assert linear_cka(big_x, y) == pytest.approx(expected, rel=1e-10)
    assert linear_cka(big_x, big_x) == pytest.approx(1.0, rel=1e-12)
    assert 0.3 < expected < 0.95  # related, not identical


@pytest.mark.integration
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


@pytest.mark.integration
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


@pytest.mark.integration
def test_tsne_is_seeded():
    x = features(40, 8)
    a, b = tsne(x, seed=3), tsne(x, seed=3)
    assert a.shape == (40, 2) and np.allclose(a, b)


def test_direction_step_size_is_what_a_gradient_step_does_to_the_direction():
    """alpha / ||w||^2: a small step on w, along the gradient of a loss of the direction
    only, moves the direction by alpha / ||w||^2 times that loss's gradient with respect to
    the direction (float64, first order in alpha)."""
    from cxgrad.analysis import direction_step_size

    generator = torch.Generator().manual_seed(0)
    w = 3.0 * torch.randn(20, dtype=torch.float64, generator=generator)
    target = torch.randn(20, dtype=torch.float64, generator=generator)

    def loss_of_direction(u: torch.Tensor) -> torch.Tensor:
        return ((u - target) ** 2).sum()

    w_leaf = w.clone().requires_grad_()
    (grad_w,) = torch.autograd.grad(loss_of_direction(w_leaf / w_leaf.norm()), w_leaf)
    alpha = 1e-6
    moved = (w - alpha * grad_w) / (w - alpha * grad_w).norm() - w / w.norm()
    u = (w / w.norm()).requires_grad_()
    (grad_u,) = torch.autograd.grad(loss_of_direction(u), u)
    tangent = grad_u - (grad_u @ u.detach()) * u.detach()  # the part that turns u
    expected = -direction_step_size(alpha, float(w.norm())) * tangent
    torch.testing.assert_close(moved, expected, rtol=1e-5, atol=1e-14)
