"""cxgrad.analysis.context: the measurements chapters 10 to 12 rest on."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import double_params, tiny_learner, tiny_model, tiny_task

from cxgrad.analysis.context import (
    ContextDependence,
    context_dependence,
    context_gradient,
    effective_inner_steps,
)
from cxgrad.data import EpisodeSampler, load_synthetic
from cxgrad.errors import ConfigError
from cxgrad.meta import InnerTrace, MetaConfig, MetaLearner


@pytest.fixture(scope="module")
def glyphs():
    return load_synthetic(num_classes=(12, 6, 6), images_per_class=6, image_size=16)


def test_context_gradient_is_bn_eps_alone():
    """Eq. 4: dL/dgamma vanishes without BatchNorm's eps, so all of grad_nu comes from eps."""
    learner = tiny_learner("cxgrad")
    params = double_params(learner)
    x_s, y_s, _, _ = tiny_task()
    parts = context_gradient(learner, params, x_s, y_s)
    assert np.abs(parts["grad_gamma_no_eps"]).max() < 1e-12
    assert np.abs(parts["grad_gamma"]).max() > 1e-9
    assert parts["grad_nu_norm_no_eps"] < 1e-12 < parts["grad_nu_norm"]
    assert parts["eps_share"] == pytest.approx(1.0, abs=1e-6)


def test_context_gradient_matches_the_learners_own_first_context_step():
    """The analysis' grad_nu at nu = 0 is the gradient of the learner's warm-up step."""
    learner = tiny_learner("cxgrad", inner_steps_eval=1, context_lr=1.0)
    params = double_params(learner)
    x_s, y_s, _, _ = tiny_task()
    parts = context_gradient(learner, params, x_s, y_s)
    record = InnerTrace()
    learner.adapt(params, x_s, y_s, steps=1, first_order=True, trace=record)
    nu_after_warm_up = np.asarray(record.contexts[0])
    # nu = 0 - beta * grad_nu, with beta = 1
    assert np.linalg.norm(nu_after_warm_up) == pytest.approx(parts["grad_nu_norm"], rel=1e-9)


def test_context_dependence_shapes_and_a_frozen_context(glyphs):
    learner = MetaLearner(
        tiny_model(ways=3),
        MetaConfig(method="cxgrad", inner_steps_eval=2, context_dim=6, context_hidden=5),
    )
    params = learner.init_params(0)
    sampler = EpisodeSampler(glyphs.split("test"), 3, 1, 2, seed=0, split_name="test")
    report = context_dependence(learner, params, sampler, tasks=5)
    assert report.gammas.shape == (5, 2, 4) and report.context_norms.shape == (5, 2)
    assert (report.context_norms > 0).all()
    assert (report.relative_spread() > 0).all()  # the context differs from task to task

    frozen = MetaLearner(learner.model, MetaConfig(**{**vars(learner.meta), "context_lr": 0.0}))
    still = context_dependence(frozen, params, sampler, tasks=5)
    assert (still.context_norms == 0).all()
    assert (still.relative_spread() == 0).all()
    assert (still.distance_from_zero_context() < 1e-6).all()
    assert np.allclose(still.task_gammas(), still.gamma_at_zero)


def test_group_separation_is_cohens_d():
    gammas = np.array([[[1.0]], [[1.2]], [[2.0]], [[2.2]]])  # [T=4, steps=1, L=1]
    report = ContextDependence(["w"], gammas, np.zeros((4, 1)), np.array([1.0]))
    d = report.group_separation(np.array([False, False, True, True]))
    sd = math.sqrt(0.02)  # each group's sample variance is 0.02
    assert d[0] == pytest.approx(1.0 / sd)
    with pytest.raises(ValueError, match="both groups"):
        report.group_separation(np.array([True] * 4))


def test_effective_step_is_the_relative_update(glyphs):
    learner = MetaLearner(tiny_model(ways=3), MetaConfig(method="maml", inner_lr=0.1))
    params = learner.init_params(0)
    batch = EpisodeSampler(glyphs.split("train"), 3, 1, 2).batch(0, 2)
    steps = effective_inner_steps(learner, params, batch, steps=1)
    assert list(steps) == ["conv1", "conv2", "conv3", "conv4", "head"]
    # One step from the same point: 0.1 * ||grad|| / ||w|| of each task, averaged.
    expected = []
    for b in range(2):
        p = {k: v.clone().requires_grad_(k == "conv2.weight") for k, v in params.items()}
        loss = torch.nn.functional.cross_entropy(
            learner.forward(p, batch.x_support[b]), batch.y_support[b]
        )
        (g,) = torch.autograd.grad(loss, [p["conv2.weight"]])
        expected.append(0.1 * float(g.norm() / params["conv2.weight"].norm()))
    assert steps["conv2"] == pytest.approx(sum(expected) / 2, rel=1e-4)


def test_context_measures_refuse_other_methods(glyphs):
    learner = tiny_learner("maml")
    x_s, y_s, _, _ = tiny_task()
    with pytest.raises(ConfigError, match="cxgrad"):
        context_gradient(learner, double_params(learner), x_s, y_s)
