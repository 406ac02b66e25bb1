"""CxGrad's scaling network g_phi and Implicit Gradient Scaling (IGS, Algorithm 2).

g_phi maps the task's context parameters nu (a plain vector, reset to zero for every task)
to one positive factor gamma_l per conv layer: Linear -> ReLU -> Linear -> Softplus.
IGS replaces each conv weight by ``gamma_l * w_l / ||w_l||_F`` (the Frobenius norm of the
whole tensor, Eq. 6). Because every conv feeds a BatchNorm, the forward pass is unchanged
(Eq. 4) while the gradient with respect to the scaled weight is multiplied by
``||w_l|| / gamma_l`` (Eq. 5): the network's output stays the same and only its
inner-loop learning rate changes, layer by layer and task by task.

That invariance is also why the support loss hardly depends on nu: every gamma is hidden
from it by a BatchNorm (up to BatchNorm's eps). ``head_gain`` is a place for the context
that no BatchNorm hides (``MetaConfig.context_gain="head"``): one more factor from g_phi's
hidden layer, multiplying the features that enter the linear head.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

Params = dict[str, torch.Tensor]

GPHI_NAMES = ("gphi.0.weight", "gphi.0.bias", "gphi.2.weight", "gphi.2.bias")
HEAD_GAIN_NAMES = ("gphi.gain.weight", "gphi.gain.bias")


def init_gphi(
    context_dim: int, hidden: int, layers: int, generator: torch.Generator | None = None
) -> Params:
    """PyTorch's default nn.Linear init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), made seedable."""
    sizes = [(hidden, context_dim), (hidden,), (layers, hidden), (layers,)]
    shapes = dict(zip(GPHI_NAMES, sizes, strict=True))
    fan_in = {"gphi.0": context_dim, "gphi.2": hidden}
    params = {}
    for name, shape in shapes.items():
        bound = 1.0 / math.sqrt(fan_in[name.rsplit(".", 1)[0]])
        params[name] = torch.empty(shape).uniform_(-bound, bound, generator=generator)
    return params


def init_head_gain(hidden: int, generator: torch.Generator | None = None) -> Params:
    """The head gain's output unit on g_phi's hidden layer, initialized as ``init_gphi``
    initializes g_phi's output layer (``U(-1/sqrt(hidden), 1/sqrt(hidden))``)."""
    bound = 1.0 / math.sqrt(hidden)
    return {
        "gphi.gain.weight": torch.empty(1, hidden).uniform_(-bound, bound, generator=generator),
        "gphi.gain.bias": torch.empty(1).uniform_(-bound, bound, generator=generator),
    }


def _hidden(params: Params, nu: torch.Tensor) -> torch.Tensor:
    return F.relu(F.linear(nu, params["gphi.0.weight"], params["gphi.0.bias"]))


def gphi(params: Params, nu: torch.Tensor) -> torch.Tensor:
    """Scaling factors gamma (one per scaled layer, all > 0) from context parameters nu."""
    return F.softplus(F.linear(_hidden(params, nu), params["gphi.2.weight"], params["gphi.2.bias"]))


def head_gain(params: Params, nu: torch.Tensor) -> torch.Tensor:
    """The head gain tau > 0 from context parameters nu: shape ``nu.shape[:-1]`` (a scalar
    for one task, ``[B]`` for B tasks).

    The logits become ``W (tau f) + b`` for features f. No normalization follows, so the
    support loss sees tau, and ``dL/dtau = <dL/dlogits, W f>`` does not vanish with
    BatchNorm's eps. It also scales the gradients of the head (by tau) and of the backbone
    (by tau, through ``dL/df``): a task-wise softmax temperature.
    """
    out = F.linear(_hidden(params, nu), params["gphi.gain.weight"], params["gphi.gain.bias"])
    return F.softplus(out)[..., 0]


def with_head_gain(weights: Params, gain: torch.Tensor) -> Params:
    """``weights`` with ``head.weight`` multiplied by ``gain`` (one factor per task):
    ``(tau W) f = W (tau f)``, the head gain without touching the backbone's forward."""
    head = weights["head.weight"]
    return {**weights, "head.weight": gain.reshape(*gain.shape, 1, 1) * head}


def implicit_gradient_scaling(weights: Params, names: list[str], gammas: torch.Tensor) -> Params:
    """Algorithm 2, step 2: ``w_l <- gamma_l * w_l / ||w_l||_F`` for each name in order.

    One task: ``gammas`` is ``[L]``. B tasks: ``gammas`` is ``[B, L]`` and each weight
    ``[B, ...]``, scaled by its own task's factor and norm.
    """
    tasks = gammas.dim() - 1  # leading task dimensions: 0 or 1
    scaled = {}
    for layer, name in enumerate(names):
        weight = weights[name]
        per_weight = (1,) * (weight.dim() - tasks)  # broadcast over the weight's own dims
        gamma = gammas[..., layer].reshape(*gammas.shape[:-1], *per_weight)
        norm = torch.linalg.vector_norm(weight.flatten(tasks), dim=-1)
        scaled[name] = gamma * weight / norm.reshape(*gammas.shape[:-1], *per_weight)
    return scaled
