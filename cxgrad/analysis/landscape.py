"""The inner-loop optimization landscape of appendix C (Eqs. 9-12, Figure 5).

Around each inner-loop point theta_{i,s} (the adapted tensors at which step s takes its
gradient h = grad L(theta_{i,s}; S_i); for CxGrad after IGS), probe points are taken along
the gradient with learning rates alpha_j = 0.5 * alpha * j, j = 1..8 (Eq. 9). At each probe
we measure the support loss (Eq. 10), the gradient's change ||h_j - h|| ("gradient
predictiveness", Eq. 11), and the "effective" beta-smoothness
max_j ||h_j - h|| / ||alpha_j* h|| (Eq. 12), following Santurkar et al. (2018).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.func import grad

from cxgrad.device import to_params_device
from cxgrad.errors import ConfigError
from cxgrad.meta.learner import InnerTrace, MetaLearner, Params

LEARNING_RATE_MULTIPLIERS = tuple(0.5 * j for j in range(1, 9))  # the set A / alpha


def _norm(tensors: dict[str, torch.Tensor]) -> float:
    return math.sqrt(sum(float(t.pow(2).sum()) for t in tensors.values()))


def landscape_measures(
    learner: MetaLearner,
    params: Params,
    x_support: torch.Tensor,
    y_support: torch.Tensor,
    multipliers: tuple[float, ...] = LEARNING_RATE_MULTIPLIERS,
) -> dict[str, np.ndarray | float]:
    """Appendix C's measures for one task, averaged over the S inner steps.

    Returns ``loss`` [J] (Eq. 10 per learning rate), ``gradient_change`` [J] (Eq. 11 per
    learning rate), ``loss_variation`` (max - min of the per-step probe losses, averaged
    over steps: Figure 5a's spread) and ``beta_smoothness`` (Eq. 12).
    """
    if learner.meta.context_gain != "none":
        # The probes evaluate learner.support_loss at the points, which has no context.
        raise ConfigError(
            f"the landscape measures probe the support loss without a context; "
            f"context_gain {learner.meta.context_gain!r} makes the loss depend on it: "
            "measure a run with --context-gain none"
        )
    params = {k: v.detach() for k, v in params.items()}
    x_support, y_support = to_params_device(params, x_support, y_support)
    trace = InnerTrace(keep_points=True)
    learner.adapt(params, x_support, y_support, learner.meta.inner_steps_train, True, trace)
    frozen = {k: v for k, v in params.items() if k not in learner.adapted_names}
    gradient_of = grad(learner.support_loss, has_aux=True)
    alpha = learner.meta.inner_lr
    losses, changes, variations, smoothness = [], [], [], []
    for point, h in zip(trace.points, trace.gradients, strict=True):
        step_losses, step_changes = [], []
        for m in multipliers:
            probe = {k: point[k] - m * alpha * h[k] for k in point}
            h_probe, loss = gradient_of(probe, frozen, x_support, y_support)
            step_losses.append(float(loss))
            step_changes.append(_norm({k: h_probe[k] - h[k] for k in h}))
        losses.append(step_losses)
        changes.append(step_changes)
        variations.append(max(step_losses) - min(step_losses))
        j_star = int(np.argmax(step_changes))
        smoothness.append(step_changes[j_star] / (multipliers[j_star] * alpha * _norm(h)))
    return {
        "loss": np.mean(losses, axis=0),
        "gradient_change": np.mean(changes, axis=0),
        "loss_variation": float(np.mean(variations)),
        "beta_smoothness": float(np.mean(smoothness)),
    }
