"""CxGrad's inner loop: Algorithm 1, lines 5-15, as functions named after its lines.

For one task, or for B tasks at once (support images of rank 5, see ``MetaLearner.adapt``):

==============  ==========================================================================
line 5          theta_i <- theta: the tensors the inner loop adapts (``adapt``'s ``fast``)
line 6          ``reset_context``: nu_i = 0
lines 8-9       ``support_gradients`` at nu_i = 0: IGS(theta_i, nu_i), the support loss,
                its gradient with respect to nu_i
line 10         ``warm_up_context``: one step on nu_i (lines 6-10 together)
line 12         ``igs``: theta_i <- IGS(theta_i, nu_i) (Algorithm 2)
line 13         ``support_gradients``: the gradient with respect to (theta_i, nu_i)
line 14         ``update``: one step on theta_i (size alpha) and on nu_i (size beta)
lines 11-15     ``adapt``: the loop
==============  ==========================================================================

Two details the paper leaves to the authors' code: the warm-up step's graph is not kept
(nu_i enters the loop as a constant), and the last step's update of nu_i reaches nothing
(the weights were rescaled before it; only the head-gain control reads it). ``adapt`` also
runs the first-order case, Table 3's step-wise scheme, and the head-gain control
(``context_gain="head"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.func import grad, vjp

from cxgrad.errors import ConfigError
from cxgrad.meta.config import MetaConfig
from cxgrad.meta.context import gphi, head_gain, implicit_gradient_scaling, with_head_gain
from cxgrad.meta.trace import InnerTrace, Params, record_step

# (adapted, frozen, x, y) -> (loss to differentiate, detached loss): MetaLearner.support_loss
SupportLoss = Callable[
    [Params, Params, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]
]


@dataclass(frozen=True)
class Support:
    """What a task's inner loop holds fixed: its support set, the tensors it does not adapt
    (``frozen``, g_phi's among them), the support loss, the weights IGS rescales, and
    whether the context also sets a gain on the head's input (a control, not the paper's)."""

    x: torch.Tensor
    y: torch.Tensor
    frozen: Params
    loss: SupportLoss
    scaled_names: tuple[str, ...]
    head_gain: bool = False

    def unscaled(self, weights: Params) -> Params:
        """The adapted weights IGS leaves alone (the head, ResNet-12's skip convs)."""
        return {k: v for k, v in weights.items() if k not in self.scaled_names}

    def gained(self, weights: Params, nu: torch.Tensor) -> Params:
        """``weights`` with the head gain tau = head_gain(nu) applied, where there is one."""
        if not self.head_gain:
            return weights
        return with_head_gain(weights, head_gain(self.frozen, nu))


def reset_context(support: Support, context_dim: int) -> torch.Tensor:
    """Line 6: nu_i = 0, ``[context_dim]`` (``[B, context_dim]`` for B tasks)."""
    x = support.x
    tasks = x.shape[:-4]  # () for one task, (B,) for B tasks
    return torch.zeros(*tasks, context_dim, dtype=x.dtype, device=x.device)


def igs(support: Support, weights: Params, nu: torch.Tensor) -> Params:
    """Lines 8 and 12, Algorithm 2: every weight of ``scaled_names`` rescaled to norm gamma,
    with (gamma_1, ..., gamma_L) = g_phi(nu). Returns the rescaled weights only."""
    return implicit_gradient_scaling(weights, list(support.scaled_names), gphi(support.frozen, nu))


def support_gradients(
    support: Support, weights: Params, nu: torch.Tensor
) -> tuple[Params, Params, torch.Tensor, torch.Tensor]:
    """Lines 12-13 (and 8-9): theta_i' = IGS(theta_i, nu_i), then the support loss's
    gradient with respect to theta_i' and to nu_i. nu_i reaches the loss through g_phi and
    IGS, so its gradient is the pull-back of the conv weights' gradients (and, with the
    head gain, of the gain's). Returns ``(theta_i', its gradients, the gradient of nu_i,
    the detached loss)``."""
    scaled, pullback = vjp(lambda n: igs(support, weights, n), nu)
    current = {**support.unscaled(weights), **scaled}
    x, y, frozen = support.x, support.y, support.frozen
    if support.head_gain:
        # nu's second path to the loss, beside IGS: the gain on the head's input
        def gained_loss(w: Params, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return support.loss(support.gained(w, n), frozen, x, y)

        (grads, g_gain), loss = grad(gained_loss, argnums=(0, 1), has_aux=True)(current, nu)
    else:
        grads, loss = grad(support.loss, has_aux=True)(current, frozen, x, y)
    (g_nu,) = pullback({k: grads[k] for k in support.scaled_names})
    if support.head_gain:
        g_nu = g_nu + g_gain
    return current, grads, g_nu, loss


def warm_up_context(
    support: Support, weights: Params, meta: MetaConfig, trace: InnerTrace | None = None
) -> torch.Tensor:
    """Lines 6-10: nu_i = 0, one support pass through IGS, one step on nu_i. Its graph is
    not kept (as in the authors' code): nu_i enters the loop as a constant."""
    nu = reset_context(support, meta.context_dim)
    if meta.context_lr == 0:  # a frozen context: the step would add 0 * g_nu
        return nu
    _, _, g_nu, _ = support_gradients(support, weights, nu)
    if trace is not None:
        trace.context_updates += 1
    return (nu - meta.context_lr * g_nu).detach()


def update(
    current: Params, grads: Params, nu: torch.Tensor, g_nu: torch.Tensor, meta: MetaConfig
) -> tuple[Params, torch.Tensor]:
    """Line 14: theta_i <- theta_i - alpha grad, nu_i <- nu_i - beta grad."""
    fast = {k: current[k] - meta.inner_lr * grads[k] for k in current}
    return fast, nu - meta.context_lr * g_nu


def adapt(
    support: Support,
    fast: Params,
    meta: MetaConfig,
    steps: int,
    first_order: bool,
    trace: InnerTrace | None = None,
    initial_context: torch.Tensor | None = None,
) -> Params:
    """Lines 6-15 for the adapted tensors ``fast`` (line 5's copy of theta): the whole
    parameter dict after ``steps`` inner steps.

    ``initial_context`` (task-wise only) replaces the warm-up by a given nu; tests use it to
    check the meta-gradient against finite differences. With ``context_gain="head"`` the
    returned head weight is tau W with the context after the last step
    (``W (tau f) = (tau W) f``), so that a forward pass on the result is the adapted model.
    """
    step_wise = meta.context_scheme == "step-wise"  # Table 3's ablation
    if step_wise and initial_context is not None:
        raise ConfigError(
            "initial_context replaces the task-wise warm-up; the step-wise scheme "
            "resets nu before every step, so it has no use for one"
        )
    if not step_wise:
        nu = (
            warm_up_context(support, fast, meta, trace)
            if initial_context is None
            else initial_context.detach()
        )
    for _ in range(steps):
        if step_wise:
            # No memory across steps: reset and warm up again before each one (two
            # context updates per step, and no warm-up before the loop to throw away).
            nu = warm_up_context(support, fast, meta, trace)
        current, grads, g_nu, loss = support_gradients(support, fast, nu)
        if first_order:
            grads = {k: g.detach() for k, g in grads.items()}
            g_nu = g_nu.detach()
        if trace is not None:
            _record_context_step(trace, support, current, grads, loss, nu, meta)
        fast, nu = update(current, grads, nu, g_nu, meta)
    return {**support.frozen, **support.gained(fast, nu)}


def _record_context_step(
    trace: InnerTrace,
    support: Support,
    current: Params,
    grads: Params,
    loss: torch.Tensor,
    nu: torch.Tensor,
    meta: MetaConfig,
) -> None:
    record_step(trace, grads, loss, current, dict.fromkeys(current, meta.inner_lr))
    trace.gammas.append(gphi(support.frozen, nu).detach().tolist())
    trace.contexts.append(nu.detach().tolist())
    if support.head_gain:
        trace.head_gains.append(float(head_gain(support.frozen, nu).detach()))
    trace.context_updates += 1
