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

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.func import grad, vmap

from cxgrad.device import to_params_device
from cxgrad.meta import cxgrad
from cxgrad.meta._layout import channels_last_query
from cxgrad.meta.config import MetaConfig
from cxgrad.meta.context import (
    gphi,
    head_gain,
    implicit_gradient_scaling,
    init_gphi,
    init_head_gain,
    with_head_gain,
)
from cxgrad.meta.trace import InnerTrace, Params, record_step
from cxgrad.models.backbone import HEAD_NAMES, Backbone

__all__ = ["METHOD_SPECS", "InnerTrace", "MetaLearner", "Method", "Params"]


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


# (learner, params, x, y, steps, first_order, trace, initial_context) -> adapted params
InnerLoop = Callable[..., Params]


@dataclass(frozen=True)
class Method:
    """What sets a meta-learning method apart: which tensors its inner loop adapts (the
    backbone's body, the head) and the inner loop itself. Adding a method is one entry of
    ``METHOD_SPECS`` (and its name in ``cxgrad.meta.config.METHODS``)."""

    adapts_body: bool
    adapts_head: bool
    inner_loop: InnerLoop
    has_context: bool = False  # meta-learns g_phi (and uses nu) beside theta


def _gradient_descent(learner, params, x, y, steps, first_order, trace, initial, unit_norm=False):
    """The inner loop of MAML, ANIL and BOIL: ``steps`` gradient steps on the adapted
    tensors. ``unit_norm`` (the IGS control) first rescales every conv weight to unit norm
    before each step: IGS with gamma = 1."""
    fast = learner.fast_weights(params, x)
    frozen = {k: v for k, v in params.items() if k not in fast}
    scaled_names = learner.scaled_names
    for step in range(steps):
        if unit_norm:
            ones = torch.ones(*x.shape[:-4], len(scaled_names)).to(x)
            fast = {**fast, **implicit_gradient_scaling(fast, scaled_names, ones)}
        grads, loss = grad(learner.support_loss, has_aux=True)(fast, frozen, x, y)
        if first_order:
            grads = {k: g.detach() for k, g in grads.items()}
        rates = {k: learner.step_size(frozen, k, step) for k in fast}
        if trace is not None:
            record_step(trace, grads, loss, fast, rates)
            if unit_norm:
                trace.gammas.append([1.0] * len(scaled_names))
        fast = {k: fast[k] - rates[k] * grads[k] for k in fast}
    return {**frozen, **fast}


def _contextual_gradient_scaling(learner, params, x, y, steps, first_order, trace, initial):
    fast = learner.fast_weights(params, x)
    support = cxgrad.Support(
        x=x,
        y=y,
        frozen={k: v for k, v in params.items() if k not in fast},
        loss=learner.support_loss,
        scaled_names=tuple(learner.scaled_names),
        head_gain=learner.meta.context_gain == "head",
    )
    return cxgrad.adapt(support, fast, learner.meta, steps, first_order, trace, initial)


METHOD_SPECS: dict[str, Method] = {
    "maml": Method(adapts_body=True, adapts_head=True, inner_loop=_gradient_descent),
    "anil": Method(adapts_body=False, adapts_head=True, inner_loop=_gradient_descent),
    "boil": Method(adapts_body=True, adapts_head=False, inner_loop=_gradient_descent),
    "cxgrad": Method(True, True, _contextual_gradient_scaling, has_context=True),
    "igs": Method(True, True, functools.partial(_gradient_descent, unit_norm=True)),
}


class MetaLearner:
    """Configuration plus the pure functions of one meta-learning method."""

    def __init__(self, model: Backbone, meta: MetaConfig) -> None:
        self.model = model
        self.meta = meta
        # Run each task's query pass channels-last on a CPU (cxgrad.meta._layout): faster at
        # 84x84, the same function, other float32 rounding. Set by ``--path fastest``.
        self.channels_last_query = False
        # The weights IGS rescales (every conv of Conv4; ResNet-12's block convs, not the
        # skip convs), and the weights the inner loop adapts besides the head.
        self.scaled_names = model.scaled_names()
        self.method = METHOD_SPECS[meta.method]
        body, head = model.body_names(), list(HEAD_NAMES)
        self.adapted_names: list[str] = (body if self.method.adapts_body else []) + (
            head if self.method.adapts_head else []
        )

    # ----------------------------------------------------------------- parameters
    def init_params(self, seed: int = 0) -> Params:
        """Meta-parameters theta (and phi for CxGrad), deterministic from ``seed``."""
        generator = torch.Generator().manual_seed(seed)
        params = self.model.init(generator)
        if self.method.has_context:
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
        return self.method.inner_loop(
            self, params, x_support, y_support, steps, first_order, trace, initial_context
        )

    def fast_weights(self, params: Params, x_support: torch.Tensor) -> Params:
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
