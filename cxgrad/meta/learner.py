"""MAML, ANIL, BOIL and CxGrad as pure functions of one parameter dict.

``MetaLearner`` holds only configuration. Every method takes the meta-parameters as a
dict of tensors and returns new tensors, so the same code runs second-order training
(gradients through the inner loop), first-order training, evaluation, and later batched
execution with ``torch.func.vmap``.

Inner-loop gradients are computed with ``torch.func.grad``; the outer meta-gradient is an
ordinary ``backward()`` through them (functorch transforms compose with autograd). First
order simply detaches the inner gradients.

The same functions run one task (support images ``[N*K, C, H, W]``) or, on a backbone
that ``folds_tasks``, B tasks at once (``[B, N*K, C, H, W]``, the batched path): adapted
tensors then carry a leading task dimension, the inner loss is the sum of the tasks' mean
losses (so its gradient is every task's own gradient, stacked), and CxGrad's context is
``[B, context_dim]``. Backbones that do not fold tasks are batched with ``vmap``.

Which tensors adapt in the inner loop:

==========  ============================================================
maml        conv weights and head (BatchNorm gamma/beta are meta-learned only)
anil        head only
boil        conv weights only (the head is frozen inside, learned outside)
cxgrad      conv weights (through IGS) and head, plus the context vector nu (with
            ``context_gain="head"`` nu also sets a gain on the head's input)
igs         conv weights (through IGS with gamma = 1) and head: a control
==========  ============================================================

With ``learned_inner_lr`` (MAML++'s LSLR) the parameter dict also holds ``lslr.<name>``,
one step size per inner step for every adapted tensor, meta-learned with the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.func import grad, vjp, vmap

from cxgrad.device import to_params_device
from cxgrad.errors import ConfigError
from cxgrad.meta.config import MetaConfig
from cxgrad.meta.context import (
    gphi,
    head_gain,
    implicit_gradient_scaling,
    init_gphi,
    init_head_gain,
    with_head_gain,
)
from cxgrad.meta.layout import channels_last_query
from cxgrad.models.backbone import HEAD_NAMES, Backbone

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


def cross_entropy_and_accuracy(
    logits: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and accuracy of one task (logits ``[M, ways]``), or of each of B tasks
    (logits ``[B, M, ways]``, results ``[B]``)."""
    accuracy = (logits.argmax(-1) == labels).to(logits.dtype).mean(-1)
    if logits.dim() == 2:
        return F.cross_entropy(logits, labels), accuracy
    losses = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
    return losses.view(labels.shape).mean(-1), accuracy


class MetaLearner:
    """Configuration plus the pure functions of one meta-learning method."""

    def __init__(self, model: Backbone, meta: MetaConfig) -> None:
        self.model = model
        self.meta = meta
        # Run each task's query pass channels-last on a CPU (cxgrad.meta.layout): faster at
        # 84x84, the same function, other float32 rounding. Set by ``--path fastest``.
        self.channels_last_query = False
        # The weights IGS rescales (every conv of Conv4; ResNet-12's block convs, not the
        # skip convs), and the weights the inner loop adapts besides the head.
        self.scaled_names = model.scaled_names()
        body, head = model.body_names(), list(HEAD_NAMES)
        self.adapted_names: list[str] = {
            "maml": body + head,
            "anil": head,
            "boil": body,
            "cxgrad": body + head,
            "igs": body + head,
        }[meta.method]

    # ----------------------------------------------------------------- parameters
    def init_params(self, seed: int = 0) -> Params:
        """Meta-parameters theta (and phi for CxGrad), deterministic from ``seed``."""
        generator = torch.Generator().manual_seed(seed)
        params = self.model.init(generator)
        if self.meta.method == "cxgrad":
            params.update(
                init_gphi(
                    self.meta.context_dim,
                    self.meta.context_hidden,
                    len(self.scaled_names),
                    generator,
                )
            )
            if self.meta.context_gain == "head":
                # Drawn after the paper's tensors: theta and g_phi are those of plain CxGrad
                # with the same seed, so the two compare pairwise.
                params.update(init_head_gain(self.meta.context_hidden, generator))
        if self.meta.learned_inner_lr:
            # After everything drawn from the generator, so the rest of the init is MAML's.
            steps = self.meta.inner_steps_train
            for name in self.adapted_names:
                params[f"lslr.{name}"] = torch.full((steps,), float(self.meta.inner_lr))
        return params

    def step_size(self, params: Params, name: str, step: int) -> torch.Tensor | float:
        """Inner step size of tensor ``name`` at inner step ``step``: alpha, or the learned
        LSLR value (steps beyond those learned reuse the last learned size)."""
        if not self.meta.learned_inner_lr:
            return self.meta.inner_lr
        rates = params[f"lslr.{name}"]
        return rates[min(step, rates.shape[0] - 1)]

    @property
    def folds_tasks(self) -> bool:
        """Whether the backbone runs B tasks in one forward (``forward_tasks``)."""
        return self.model.folds_tasks

    def forward(self, params: Params, x: torch.Tensor) -> torch.Tensor:
        """Logits of one task (``x`` is ``[M, C, H, W]``) or of B tasks (``[B, M, C, H, W]``)."""
        if x.dim() == 5:
            return self.model.forward_tasks(params, x)
        return self.model.forward(params, x)

    def support_loss(
        self, adapted: Params, frozen: Params, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The inner loop's objective: the support loss of ``adapted`` (the tensors the inner
        loop changes) with ``frozen`` (the rest), as ``(loss to differentiate, detached
        loss)`` for ``torch.func.grad(..., has_aux=True)``. For B tasks the first is the
        sum of their mean losses, so its gradient is each task's own gradient."""
        loss, _ = cross_entropy_and_accuracy(self.forward({**frozen, **adapted}, x), y)
        return loss.sum(), loss.detach()

    # ----------------------------------------------------------------- the context
    def context_factors(self, params: Params, nu: torch.Tensor) -> torch.Tensor:
        """Every factor CxGrad makes from the context nu: the IGS factors gamma, one per
        ``scaled_names`` layer, then the head gain tau with ``context_gain="head"``:
        ``[..., L]`` or ``[..., L + 1]``."""
        gammas = gphi(params, nu)
        if self.meta.context_gain != "head":
            return gammas
        return torch.cat([gammas, head_gain(params, nu).unsqueeze(-1)], dim=-1)

    def factor_names(self) -> list[str]:
        """What each entry of ``context_factors`` scales."""
        return self.scaled_names + (["head gain"] if self.meta.context_gain == "head" else [])

    def support_loss_of_factors(
        self, params: Params, factors: torch.Tensor, x: torch.Tensor, y: torch.Tensor
    ) -> torch.Tensor:
        """The support loss of one task as a function of the context's factors alone:
        ``params``' conv weights rescaled by IGS with the gammas, the head by the gain.
        The context reaches the support loss only through this function."""
        scaled_count = len(self.scaled_names)
        weights = implicit_gradient_scaling(params, self.scaled_names, factors[..., :scaled_count])
        weights = {**params, **weights}
        if self.meta.context_gain == "head":
            weights = with_head_gain(weights, factors[..., scaled_count])
        return self.support_loss(weights, {}, x, y)[0]

    # ----------------------------------------------------------------- inner loop
    def adapt(
        self,
        params: Params,
        x_support: torch.Tensor,
        y_support: torch.Tensor,
        steps: int,
        first_order: bool,
        trace: InnerTrace | None = None,
        initial_context: torch.Tensor | None = None,
    ) -> Params:
        """Fast weights after ``steps`` inner steps on one task's support set.

        Returns the full parameter dict with the adapted entries replaced. With
        ``first_order`` the inner gradients are detached (FOMAML, and evaluation).
        ``initial_context`` (CxGrad, task-wise only) replaces the warm-up context step by a
        given nu; tests use it to check the meta-gradient against finite differences.
        With B tasks (``x_support`` of rank 5) the adapted entries are ``[B, ...]``; ``trace``
        then is not available.
        """
        x_support, y_support = to_params_device(params, x_support, y_support)
        if x_support.dim() == 5 and trace is not None:
            raise ValueError("an InnerTrace records one task: adapt the tasks one by one")
        if self.meta.method == "cxgrad":
            return self._adapt_cxgrad(
                params, x_support, y_support, steps, first_order, trace, initial_context
            )
        fast = self._fast_weights(params, x_support)
        frozen = {k: v for k, v in params.items() if k not in fast}
        fixed_norm = self.meta.method == "igs"
        for step in range(steps):
            if fixed_norm:
                # IGS with gamma = 1: every conv weight back to unit norm before the step.
                ones = torch.ones(*x_support.shape[:-4], len(self.scaled_names)).to(x_support)
                fast = {**fast, **implicit_gradient_scaling(fast, self.scaled_names, ones)}
            grads, loss = grad(self.support_loss, has_aux=True)(fast, frozen, x_support, y_support)
            if first_order:
                grads = {k: g.detach() for k, g in grads.items()}
            rates = {k: self.step_size(frozen, k, step) for k in fast}
            if trace is not None:
                _record(trace, grads, loss, fast, rates)
                if fixed_norm:
                    trace.gammas.append([1.0] * len(self.scaled_names))
            fast = {k: fast[k] - rates[k] * grads[k] for k in fast}
        return {**frozen, **fast}

    def _adapt_cxgrad(
        self,
        params: Params,
        x: torch.Tensor,
        y: torch.Tensor,
        steps: int,
        first_order: bool,
        trace: InnerTrace | None,
        initial_context: torch.Tensor | None = None,
    ) -> Params:
        """Algorithm 1, lines 5-15, for one task (or B tasks at once, see ``adapt``).

        With ``context_gain="head"`` every support pass multiplies the head's input by
        tau = head_gain(nu), and the returned head weight is tau W with the context after
        the last step (``W (tau f) = (tau W) f``), so that ``forward`` on the result is the
        adapted model."""
        meta = self.meta
        to_scale = self.scaled_names
        gain = meta.context_gain == "head"
        fast = self._fast_weights(params, x)
        frozen = {k: v for k, v in params.items() if k not in fast}

        def scale(nu: torch.Tensor, weights: Params) -> Params:
            return implicit_gradient_scaling(weights, to_scale, gphi(frozen, nu))

        def gained(nu: torch.Tensor, weights: Params) -> Params:
            return with_head_gain(weights, head_gain(frozen, nu)) if gain else weights

        def gained_loss(weights: Params, nu: torch.Tensor):
            return self.support_loss(gained(nu, weights), frozen, x, y)

        def context_grad(weights: Params, nu: torch.Tensor):
            """Gradient of the support loss w.r.t. nu through IGS (and the head gain), and
            the scaled weights."""
            scaled, pullback = vjp(lambda n: scale(n, weights), nu)
            current = {**unscaled(weights), **scaled}
            if gain:
                # nu's second path to the loss, beside IGS: the gain on the head's input
                (grads, g_gain), loss = grad(gained_loss, argnums=(0, 1), has_aux=True)(current, nu)
            else:
                grads, loss = grad(self.support_loss, has_aux=True)(current, frozen, x, y)
            (g_nu,) = pullback({k: grads[k] for k in to_scale})
            if gain:
                g_nu = g_nu + g_gain
            return scaled, grads, g_nu, loss

        def unscaled(weights: Params) -> Params:
            """The adapted weights IGS leaves alone (the head, ResNet-12 skip convs)."""
            return {k: v for k, v in weights.items() if k not in to_scale}

        def reset_and_warm_up(weights: Params) -> torch.Tensor:
            # Lines 6-10: nu = 0, one support pass through IGS, one nu step. Its graph is
            # not kept (as in the authors' code): nu enters the loop as a constant.
            tasks = x.shape[:-4]  # () for one task, (B,) for B tasks
            nu = torch.zeros(*tasks, meta.context_dim, dtype=x.dtype, device=x.device)
            if meta.context_lr == 0:  # a frozen context: the step would add 0 * g_nu
                return nu
            _, _, g_nu, _ = context_grad(weights, nu)
            if trace is not None:
                trace.context_updates += 1
            return (nu - meta.context_lr * g_nu).detach()

        step_wise = meta.context_scheme == "step-wise"  # Table 3's ablation
        if step_wise and initial_context is not None:
            raise ConfigError(
                "initial_context replaces the task-wise warm-up; the step-wise scheme "
                "resets nu before every step, so it has no use for one"
            )
        if not step_wise:
            nu = reset_and_warm_up(fast) if initial_context is None else initial_context.detach()
        for _ in range(steps):
            if step_wise:
                # No memory across steps: reset and warm up again before each one (two
                # context updates per step, and no warm-up before the loop to throw away).
                nu = reset_and_warm_up(fast)
            scaled, grads, g_nu, loss = context_grad(fast, nu)  # lines 12-13
            if first_order:
                grads = {k: g.detach() for k, g in grads.items()}
                g_nu = g_nu.detach()
            if trace is not None:
                point = {**unscaled(fast), **scaled}
                _record(trace, grads, loss, point, dict.fromkeys(point, meta.inner_lr))
                trace.gammas.append(gphi(frozen, nu).detach().tolist())
                trace.contexts.append(nu.detach().tolist())
                if gain:
                    trace.head_gains.append(float(head_gain(frozen, nu).detach()))
                trace.context_updates += 1
            current = {**unscaled(fast), **scaled}
            fast = {k: current[k] - meta.inner_lr * grads[k] for k in current}  # line 14
            nu = nu - meta.context_lr * g_nu
        return {**frozen, **gained(nu, fast)}

    def _fast_weights(self, params: Params, x_support: torch.Tensor) -> Params:
        """The tensors the inner loop adapts, one copy per task when x holds B tasks."""
        if x_support.dim() == 4:
            return {name: params[name] for name in self.adapted_names}
        tasks = x_support.shape[0]
        names = self.adapted_names
        return {name: params[name].expand(tasks, *params[name].shape) for name in names}

    # ----------------------------------------------------------------- one task
    def task_loss(
        self,
        params: Params,
        x_support: torch.Tensor,
        y_support: torch.Tensor,
        x_query: torch.Tensor,
        y_query: torch.Tensor,
        training: bool = True,
        trace: InnerTrace | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Query loss and accuracy after adapting on the support set: scalars for one task,
        ``[B]`` for B tasks stacked in a rank-5 ``x_support``."""
        x_query, y_query = to_params_device(params, x_query, y_query)
        steps = self.meta.inner_steps_train if training else self.meta.inner_steps_eval
        first_order = self.meta.first_order or not training
        fast = self.adapt(params, x_support, y_support, steps, first_order, trace)
        if self.channels_last_query:  # CPU speed, float32 rounding only: see meta.layout
            x_query, fast = channels_last_query(x_query, fast)
        return cross_entropy_and_accuracy(self.forward(fast, x_query), y_query)

    def predict(
        self,
        params: Params,
        x_support: torch.Tensor,
        y_support: torch.Tensor,
        x_query: torch.Tensor,
    ) -> torch.Tensor:
        """Query logits after evaluation-time adaptation (first order, eval step count)."""
        params = {k: v.detach() for k, v in params.items()}
        (x_query,) = to_params_device(params, x_query)
        fast = self.adapt(params, x_support, y_support, self.meta.inner_steps_eval, True)
        with torch.no_grad():
            return self.forward(fast, x_query)

    def predict_batch(
        self,
        params: Params,
        x_support: torch.Tensor,
        y_support: torch.Tensor,
        x_query: torch.Tensor,
        batched: bool = False,
    ) -> torch.Tensor:
        """``predict`` for a batch of tasks: logits ``[B, N*Q, N]``."""
        params = {k: v.detach() for k, v in params.items()}
        x_support, y_support, x_query = to_params_device(params, x_support, y_support, x_query)
        if batched and self.folds_tasks:
            return self.predict(params, x_support, y_support, x_query)
        if batched:
            return vmap(lambda xs, ys, xq: self.predict(params, xs, ys, xq))(
                x_support, y_support, x_query
            )
        return torch.stack(
            [
                self.predict(params, *task)
                for task in zip(x_support, y_support, x_query, strict=True)
            ]
        )

    # ----------------------------------------------------------------- meta-batch
    def meta_batch_loss(
        self, params: Params, batch, training: bool = True, batched: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean query loss and accuracy over the tasks of a ``TaskBatch``.

        ``batched=False`` is the readable reference path: a Python loop over tasks whose
        graphs are all kept for one backward, like the authors' code. ``batched=True``
        computes the same function for all tasks at once: one kernel launch per layer per
        step instead of one per task. With a backbone that folds tasks (Conv4) the tasks run
        as grouped convolutions through ``forward_tasks``; otherwise with ``torch.func.vmap``.
        """
        tasks = to_params_device(params, *batch.tensors())
        if batched and self.folds_tasks:
            losses, accuracies = self.task_loss(params, *tasks, training=training)
        elif batched:
            losses, accuracies = vmap(
                lambda xs, ys, xq, yq: self.task_loss(params, xs, ys, xq, yq, training=training)
            )(*tasks)
        else:
            pairs = [
                self.task_loss(params, *task, training=training)
                for task in zip(*tasks, strict=True)
            ]
            losses = torch.stack([loss for loss, _ in pairs])
            accuracies = torch.stack([acc for _, acc in pairs])
        return losses.mean(), accuracies.mean().detach()


def _record(
    trace: InnerTrace,
    grads: Params,
    loss: torch.Tensor,
    point: Params,
    rates: dict[str, torch.Tensor | float],
) -> None:
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
