"""Chapter 10's epsilon argument at the paper's geometry.

The argument: IGS sets each scaled conv weight to ``gamma_l * w_l / ||w_l||`` and every
scaled conv feeds a BatchNorm, whose output does not depend on the scale of its input
(Eq. 4) except through eps. So without eps ``dL/dgamma_l = 0`` for the support loss, and
``grad_nu L``, the only signal that moves the context, exists only through eps.

Nothing in the argument depends on the image size, the width or the depth, but the paper
ran at 84x84 with Conv4-48 and ResNet-12, 5-way 1-shot and 5-shot, where the batch
variances that eps is compared with differ from chapter 10's Omniglot runs; ResNet-12 adds
residual sums and skip convs. ``eps_argument`` measures it there, in float64, at the
initialization or after a few meta-training steps on synthetic glyphs (the images matter
to the size of the gradient, not to whether it vanishes), for every factor the context
makes: the gradient with the model's eps, with eps -> 0 (1e-30), and the share that exists
only through eps. ``EpsArgument.failures`` names the factors for which the argument does not
hold. In ResNet-12 every scaled conv (the three of each block) feeds its own BatchNorm
before the residual sum, and the skip convs are not scaled, so the argument predicts no
failure there either; the measurement checks it. With ``context_gain="head"`` the head gain
is a factor that no BatchNorm hides: it is the one the argument does not cover.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cxgrad.analysis.context import context_gradient
from cxgrad.data.base import FewShotDataset
from cxgrad.data.episodes import EpisodeSampler, TaskBatch
from cxgrad.data.synthetic import load_synthetic
from cxgrad.errors import ConfigError
from cxgrad.meta.config import MetaConfig
from cxgrad.meta.learner import MetaLearner, Params
from cxgrad.meta.step import meta_gradient
from cxgrad.models import Backbone, Conv4Config, ResNet12Config

# The paper's backbones at 84x84 with RGB input (appendices A and B).
GEOMETRIES: dict[str, Backbone] = {
    "conv4-48": Conv4Config(ways=5, in_channels=3, image_size=84, filters=48),
    "resnet12": ResNet12Config(ways=5, in_channels=3, image_size=84, channels=64),
}
# What is left of a gradient without eps counts as float64 rounding below this fraction of
# the largest factor's gradient (with eps) on the same task. Measured relative to the largest
# rather than to the factor's own: one factor's gradient may pass near zero (a sign change),
# and then rounding is a large part of it although nothing exists without eps. The rounding
# measured at these geometries is below 1e-8 of the largest.
ROUNDING = 1e-6


@dataclass
class EpsArgument:
    """The context's gradient at the first context update (nu = 0) on T tasks.

    ``factors`` names the F factors the context makes (the gammas of the scaled convs,
    then the head gain if any). ``grad`` and ``grad_no_eps`` are ``dL/dfactor`` with the
    model's eps and with 1e-30, ``[T, F]``; ``factor_eps_share`` is
    ``|grad - grad_no_eps| / |grad|`` per factor and ``eps_share`` the same for the whole
    of ``grad_nu L`` (``[T]``; 1 means all of it exists only through eps). ``grad_nu`` and
    ``grad_nu_no_eps`` are ``||grad_nu L||``. ``factor_move`` is how far the context's
    first step moves each factor, relative to its value (``[T, F]``).
    """

    geometry: str
    shots: int
    iterations: int
    bn_eps: float
    factors: list[str]
    grad: np.ndarray
    grad_no_eps: np.ndarray
    factor_eps_share: np.ndarray
    factor_move: np.ndarray
    grad_nu: np.ndarray
    grad_nu_no_eps: np.ndarray
    eps_share: np.ndarray

    def failures(self, rounding: float = ROUNDING) -> list[str]:
        """The factors with a gradient without eps beyond rounding on some task (more than
        ``rounding`` times the task's largest factor gradient with eps): where the argument
        fails."""
        largest = np.abs(self.grad).max(axis=1, keepdims=True)
        beyond = (np.abs(self.grad_no_eps) > rounding * largest).any(axis=0)
        return [name for name, fails in zip(self.factors, beyond, strict=True) if fails]

    def holds(self, rounding: float = ROUNDING) -> bool:
        """Whether, on every task, no factor has a gradient without eps and all of
        ``grad_nu L`` exists only through eps (its share through eps is 1 up to
        ``rounding``)."""
        return not self.failures(rounding) and bool((self.eps_share >= 1 - rounding).all())

    def summary(self) -> str:
        """One line: where, and the smallest share through eps over tasks."""
        when = "initialization" if self.iterations == 0 else f"{self.iterations} steps"
        failed = self.failures()
        verdict = "holds" if self.holds() else f"fails at {', '.join(failed) or 'grad_nu'}"
        return (
            f"{self.geometry} {self.shots}-shot, {when}: ||grad_nu|| {self.grad_nu.min():.2e}"
            f"..{self.grad_nu.max():.2e} with eps {self.bn_eps:g}, max "
            f"{self.grad_nu_no_eps.max():.1e} without; share through eps min "
            f"{self.eps_share.min():.9f}; argument {verdict}"
        )


def glyphs_84(image_size: int = 84, classes: int = 10, images: int = 20) -> FewShotDataset:
    """Synthetic glyphs at the paper's image size (train and test splits of ``classes``
    classes, ``images`` images each)."""
    return load_synthetic(
        num_classes=(classes, classes, classes), images_per_class=images, image_size=image_size
    )


def _channels(batch: TaskBatch, channels: int) -> TaskBatch:
    """Gray glyphs repeated over ``channels`` input channels (the paper's RGB geometry)."""
    if channels == batch.x_support.shape[2]:
        return batch
    return TaskBatch(
        batch.x_support.expand(-1, -1, channels, -1, -1).contiguous(),
        batch.y_support,
        batch.x_query.expand(-1, -1, channels, -1, -1).contiguous(),
        batch.y_query,
    )


def meta_train(
    learner: MetaLearner,
    params: Params,
    sampler: EpisodeSampler,
    iterations: int,
    meta_batch: int = 1,
    outer_lr: float = 1e-3,
) -> Params:
    """``iterations`` outer steps of Adam (the paper's optimizer) on the sampler's tasks,
    in float32 with the learner's own meta-gradient; returns detached parameters."""
    leaves = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
    optimizer = torch.optim.Adam(leaves.values(), lr=outer_lr)
    channels = learner.model.in_channels
    for iteration in range(iterations):
        batch = _channels(sampler.batch(iteration * meta_batch, meta_batch), channels)
        meta_gradient(learner, leaves, batch)
        optimizer.step()
    return {k: v.detach() for k, v in leaves.items()}


def eps_argument(
    geometry: str | Backbone,
    shots: int,
    iterations: int = 0,
    tasks: int = 1,
    meta: MetaConfig | None = None,
    train_meta: MetaConfig | None = None,
    queries: int = 1,
    meta_batch: int = 1,
    outer_lr: float = 1e-3,
    seed: int = 0,
    data: FewShotDataset | None = None,
) -> EpsArgument:
    """Measure the argument for one backbone (a name of ``GEOMETRIES`` or a backbone
    configuration) and shot count, on ``tasks`` test tasks of synthetic glyphs.

    The parameters are CxGrad's initialization for ``seed`` (``meta``: default the
    paper's CxGrad), after ``iterations`` meta-training steps on training tasks of the
    same shot count with ``queries`` queries per class and ``meta_batch`` tasks per step.
    ``train_meta`` replaces ``meta`` for those steps only (for example fewer inner steps,
    to keep a CPU run short); what is measured is the same either way, the gradient of the
    first context update.
    """
    meta = meta or MetaConfig(method="cxgrad")
    if meta.method != "cxgrad":
        raise ConfigError(f"the context exists only for method 'cxgrad', not {meta.method!r}")
    learner = MetaLearner(_backbone(geometry), meta)
    data = data or glyphs_84(learner.model.image_size)
    params = learner.init_params(seed)
    if iterations:
        trainer = MetaLearner(learner.model, train_meta) if train_meta else learner
        sampler = EpisodeSampler(data.split("train"), learner.model.ways, shots, queries, seed=seed)
        params = meta_train(trainer, params, sampler, iterations, meta_batch, outer_lr)
    name = geometry if isinstance(geometry, str) else None
    return measure(learner, params, shots, tasks, data, iterations, name, seed)


def _backbone(geometry: str | Backbone) -> Backbone:
    if not isinstance(geometry, str):
        return geometry
    if geometry not in GEOMETRIES:
        raise ConfigError(
            f"unknown geometry {geometry!r}; choose one of {', '.join(GEOMETRIES)} or pass a "
            "backbone configuration"
        )
    return GEOMETRIES[geometry]


def measure(
    learner: MetaLearner,
    params: Params,
    shots: int,
    tasks: int = 1,
    data: FewShotDataset | None = None,
    iterations: int = 0,
    geometry: str | None = None,
    seed: int = 0,
) -> EpsArgument:
    """The context's gradient at ``params`` (after ``iterations`` meta-training steps, a
    label only) on ``tasks`` seeded ``shots``-shot test tasks of ``data`` (default:
    ``glyphs_84`` at the backbone's image size), as an ``EpsArgument``."""
    if learner.meta.method != "cxgrad":
        raise ConfigError(
            f"the context exists only for method 'cxgrad', not {learner.meta.method!r}"
        )
    model = learner.model
    data = data or glyphs_84(model.image_size)
    side = data.split("test").image_shape[-1]
    if side != model.image_size:
        raise ConfigError(
            f"the data's images are {side} pixels wide, the backbone's {model.image_size}: "
            f"pass glyphs_84({model.image_size}) or data of that size"
        )
    test = EpisodeSampler(data.split("test"), model.ways, shots, 1, seed=seed, split_name="test")
    parts = []
    for index in range(tasks):
        batch = _channels(test.batch(index, 1), model.in_channels)
        parts.append(context_gradient(learner, params, batch.x_support[0], batch.y_support[0]))

    def stack(key: str) -> np.ndarray:
        return np.asarray([p[key] for p in parts], dtype=np.float64)

    return EpsArgument(
        geometry=geometry or _describe(model),
        shots=shots,
        iterations=iterations,
        bn_eps=model.bn_eps,
        factors=list(parts[0]["factors"]),
        grad=stack("grad_factor"),
        grad_no_eps=stack("grad_factor_no_eps"),
        factor_eps_share=stack("factor_eps_share"),
        factor_move=stack("factor_move"),
        grad_nu=stack("grad_nu_norm"),
        grad_nu_no_eps=stack("grad_nu_norm_no_eps"),
        eps_share=stack("eps_share"),
    )


def _describe(model: Backbone) -> str:
    if isinstance(model, ResNet12Config):
        return f"resnet12-{model.channels} at {model.image_size}x{model.image_size}"
    if isinstance(model, Conv4Config):
        return f"conv4-{model.filters} at {model.image_size}x{model.image_size}"
    return type(model).__name__
