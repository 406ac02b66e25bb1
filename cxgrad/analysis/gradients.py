"""Per-layer inner-loop gradient norms (the paper's Figure 2), and how fast a step turns a
conv layer's direction."""

from __future__ import annotations

import math
from typing import Any

from cxgrad.device import params_device
from cxgrad.meta.learner import InnerTrace, MetaLearner, Params
from cxgrad.models import HEAD_NAMES, Conv4Config


def layer_groups(learner: MetaLearner) -> dict[str, list[str]]:
    """Display name -> parameter names, in network order: ``conv1..conv4`` and ``head``
    for Conv4, ``block1..block4`` (all convs of a residual block) and ``head`` for
    ResNet-12. Only tensors the method adapts appear."""
    adapted = set(learner.adapted_names)
    groups: dict[str, list[str]] = {}
    if isinstance(learner.model, Conv4Config):
        for i, name in enumerate(learner.model.conv_names(), start=1):
            groups[f"conv{i}"] = [name]
    else:
        for name in learner.model.body_names():
            groups.setdefault(name.split(".")[0], []).append(name)
    groups["head"] = list(HEAD_NAMES)
    return {k: [n for n in v if n in adapted] for k, v in groups.items() if set(v) & adapted}


def task_traces(
    learner: MetaLearner, params: Params, batch, steps: int | None = None
) -> list[InnerTrace]:
    """One ``InnerTrace`` per task of ``batch``: first-order adaptation with ``steps`` inner
    steps (default: the training step count). Per-layer measures read these traces.
    ``batch`` (a ``TaskBatch``) is moved to the parameters' device."""
    steps = learner.meta.inner_steps_train if steps is None else steps
    batch = batch.to(params_device(params))
    traces = []
    for b in range(len(batch)):
        trace = InnerTrace()
        learner.adapt(
            params, batch.x_support[b], batch.y_support[b], steps, first_order=True, trace=trace
        )
        traces.append(trace)
    return traces


def inner_gradient_norms(learner: MetaLearner, params: Params, batch) -> dict[str, float]:
    """L2 norm of each layer's inner-loop gradient, averaged over the inner steps and the
    tasks of ``batch`` (as in Figure 2). For CxGrad it is the gradient with respect to the
    scaled weight, the one the update uses. The steps are the training step count, with
    first-order gradients (norms do not depend on the order)."""
    groups = layer_groups(learner)
    totals = dict.fromkeys(groups, 0.0)
    count = 0
    for trace in task_traces(learner, params, batch):
        for step in trace.grad_norms:
            for layer, names in groups.items():
                totals[layer] += math.sqrt(sum(step[n] ** 2 for n in names))
            count += 1
    return {layer: total / max(count, 1) for layer, total in totals.items()}


def direction_step_size(alpha: float, norm: Any) -> Any:
    """How far one inner step of size ``alpha`` turns a conv weight's direction ``w / ||w||``
    under BatchNorm, per unit of the direction's gradient: ``alpha / ||w||^2`` (Eq. 5 with
    chapter 4: the loss sees only the direction, whose gradient the weight's gradient
    carries divided by ``||w||``, and a step of the weight moves the direction by its length
    over ``||w||``).

    MAML's ``||w||`` is its weight's own norm; IGS sets it to gamma, so CxGrad's is
    ``alpha / gamma^2``. The ratio of two methods' values, ``(||w|| / gamma)^2``, is how much
    faster one turns a layer than the other: the definition chapters 5 and 8 quote. (Chapter
    11's ``effective_inner_steps`` measures the steps actually taken, ``||alpha grad|| /
    ||w||``, which also depend on the size of the gradients.) ``norm`` may be a number or an
    array of norms."""
    return alpha / norm**2
