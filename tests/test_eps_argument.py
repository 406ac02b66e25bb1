"""Chapter 10's eps argument at the paper's geometry (cxgrad.analysis.eps).

84x84 RGB-shaped inputs, 5-way 1-shot and 5-shot, Conv4-48 and ResNet-12, at the
initialization and after meta-training steps: without BatchNorm's eps the support loss's
gradient with respect to every gamma, and so with respect to the context, vanishes to
float64 rounding. ResNet-12 runs at 8 channels in the first block instead of 64 to keep the
suite fast: its structure (three scaled convs per block, each into its own BatchNorm before
the residual sum; skip convs not scaled) is what the argument is about, and
``benchmarks/eps_argument.py`` measures the full widths.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cxgrad.analysis.eps import (
    GEOMETRIES,
    EpsArgument,
    eps_argument,
    glyphs_84,
    measure,
    meta_train,
)
from cxgrad.data import EpisodeSampler
from cxgrad.errors import ConfigError
from cxgrad.meta import MetaConfig, MetaLearner

BACKBONES = {
    "conv4-48": GEOMETRIES["conv4-48"],
    "resnet12-8": dataclasses.replace(GEOMETRIES["resnet12"], channels=8),
}
STEPS = 2  # meta-training steps before the second measurement
# The steps' inner loop: one inner step instead of five, for time; the measurement itself
# is the paper's CxGrad, whose first context update does not depend on the step count.
TRAIN_META = MetaConfig(method="cxgrad", inner_steps_train=1)


@pytest.fixture(scope="module")
def glyphs():
    return glyphs_84(classes=6, images=6)  # 5-shot tasks with one query to spare


@pytest.fixture(scope="module", params=list(BACKBONES))
def measured(request, glyphs) -> dict[tuple[int, int], EpsArgument]:
    """(shots, steps) -> the argument measured on test tasks (two 1-shot tasks, one 5-shot
    task) for one backbone: at the initialization and after STEPS meta-training steps on
    1-shot training tasks."""
    learner = MetaLearner(BACKBONES[request.param], MetaConfig(method="cxgrad"))
    initial = learner.init_params(0)
    sampler = EpisodeSampler(glyphs.split("train"), 5, 1, 1, seed=0)
    trainer = MetaLearner(learner.model, TRAIN_META)
    trained = meta_train(trainer, initial, sampler, STEPS)
    moved = max(float((trained[k] - initial[k]).abs().max()) for k in initial)
    assert moved > 1e-4  # the steps did move the parameters
    return {
        (shots, steps): measure(learner, params, shots, 2 if shots == 1 else 1, glyphs, steps)
        for shots in (1, 5)
        for steps, params in ((0, initial), (STEPS, trained))
    }


@pytest.mark.integration
@pytest.mark.parametrize("steps", [0, STEPS], ids=["initialization", f"{STEPS}-steps"])
@pytest.mark.parametrize("shots", [1, 5])
def test_the_context_gradient_exists_only_through_eps(measured, shots, steps):
    result = measured[(shots, steps)]
    assert result.failures() == [], result.summary()
    assert result.holds()
    assert (result.eps_share > 1 - 1e-6).all()
    assert (result.grad_nu > 1e-6).all()  # with eps there is a gradient...
    assert (result.grad_nu_no_eps < 1e-6 * result.grad_nu).all()  # ...without, rounding
    assert np.abs(result.grad_no_eps).max() < 1e-10
    # and every scaled conv has its factor: 4 for Conv4, 12 for ResNet-12's block convs
    assert len(result.factors) == (4 if result.geometry.startswith("conv4") else 12)


def test_the_head_gain_is_where_the_argument_does_not_reach(glyphs):
    """The variant the argument predicts it cannot cover: a gain no BatchNorm follows."""
    meta = MetaConfig(method="cxgrad", context_gain="head")
    for name, model in BACKBONES.items():
        result = eps_argument(model, 1, tasks=2, meta=meta, data=glyphs)
        assert result.failures() == ["head gain"], name
        # most of the context's gradient is now there without eps...
        assert (result.eps_share < 0.5).all(), name
        assert (result.grad_nu_no_eps > 0.5 * result.grad_nu).all(), name
        # ...while the gammas themselves are still hidden by BatchNorm
        largest = np.abs(result.grad).max(axis=1, keepdims=True)
        assert (np.abs(result.grad_no_eps[:, :-1]) < 1e-6 * largest).all(), name


@pytest.mark.integration
def test_the_context_gradient_is_largest_with_eps_near_the_batch_variances(glyphs):
    """Still all through eps, but its size depends on eps against gamma^2 var(w_hat * x):
    1e-3 is near it at Conv4-48 84x84, 1e-1 far above, where BatchNorm barely normalizes and
    the activations shrink layer by layer."""
    norms = {}
    for bn_eps in (1e-5, 1e-3, 1e-1):
        model = dataclasses.replace(GEOMETRIES["conv4-48"], bn_eps=bn_eps)
        result = eps_argument(model, 1, tasks=2, data=glyphs)
        assert result.holds()
        norms[bn_eps] = float(np.median(result.grad_nu))
    assert norms[1e-3] > 2 * norms[1e-5]
    assert norms[1e-3] > 10 * norms[1e-1]


def test_eps_argument_refuses_what_it_cannot_measure(glyphs):
    with pytest.raises(ConfigError, match="unknown geometry 'vgg'"):
        eps_argument("vgg", 1, data=glyphs)
    with pytest.raises(ConfigError, match="only for method 'cxgrad'"):
        eps_argument("conv4-48", 1, meta=MetaConfig(method="maml"), data=glyphs)
    small = dataclasses.replace(GEOMETRIES["conv4-48"], image_size=28)
    with pytest.raises(ConfigError, match="84 pixels wide, the backbone's 28"):
        eps_argument(small, 1, data=glyphs)
