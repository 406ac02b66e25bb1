"""``InnerTrace``: what one task's inner loop did, recorded only when asked for."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

Params = dict[str, torch.Tensor]


@dataclass
class InnerTrace:
    """What happened inside one task's inner loop (filled only when asked for).

    ``grad_norms[s][name]`` is the L2 norm of the inner gradient of ``name`` at step s
    (for CxGrad, the gradient with respect to the scaled weight, the one that is applied).
    ``gammas[s]`` are CxGrad's scaling factors used at step s and ``contexts[s]`` the
    context nu they came from. ``relative_steps[s][name]`` is the size of step s's update
    relative to the tensor it updates, ``||lr * grad|| / ||w||`` (for CxGrad and IGS, w
    is the rescaled weight): the effective inner step, comparable across methods.
    ``context_updates`` counts updates of nu, including the initial one without graph.
    With ``keep_points``,
    ``points[s]`` holds the adapted tensors at which step s took its gradient (for CxGrad,
    after IGS) and ``gradients[s]`` that gradient, detached: the loss-landscape analysis
    (appendix C) probes the landscape around these points. ``head_gains[s]`` is the head
    gain tau used at step s (CxGrad with ``context_gain="head"`` only).
    """

    keep_points: bool = False
    grad_norms: list[dict[str, float]] = field(default_factory=list)
    gammas: list[list[float]] = field(default_factory=list)
    contexts: list[list[float]] = field(default_factory=list)
    relative_steps: list[dict[str, float]] = field(default_factory=list)
    support_losses: list[float] = field(default_factory=list)
    context_updates: int = 0
    points: list[dict[str, torch.Tensor]] = field(default_factory=list)
    gradients: list[dict[str, torch.Tensor]] = field(default_factory=list)
    head_gains: list[float] = field(default_factory=list)


def record_step(
    trace: InnerTrace,
    grads: Params,
    loss: torch.Tensor,
    point: Params,
    rates: dict[str, torch.Tensor | float],
) -> None:
    """One inner step into ``trace``: the gradients' norms, the step's size relative to the
    tensor it changes (``rates`` are the step sizes), the support loss and, with
    ``keep_points``, the point and its gradient."""
    norm = torch.linalg.vector_norm
    trace.relative_steps.append(
        {
            k: float(abs(float(rates[k])) * norm(g.detach()) / norm(point[k].detach()))
            for k, g in grads.items()
        }
    )
    if trace.keep_points:
        trace.points.append({k: v.detach() for k, v in point.items()})
        trace.gradients.append({k: g.detach() for k, g in grads.items()})
    trace.grad_norms.append(
        {k: float(torch.linalg.vector_norm(g.detach())) for k, g in grads.items()}
    )
    trace.support_losses.append(float(loss.detach()))
