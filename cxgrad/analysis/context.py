"""Does CxGrad's context depend on the task? Measurements for chapters 10 to 12.

Three questions, each a function:

* ``context_dependence``: across tasks, how much do the scaling factors gamma and the
  context nu vary, per layer, relative to their mean, and how far is gamma from
  ``g_phi(0)``, the value every task would get if nu never left zero?
* ``context_gradient``: where the gradient that moves nu comes from. By Eq. 4 the support
  loss does not depend on the norm of a conv weight that feeds a BatchNorm, so
  ``dL/dgamma_l`` (and with it ``grad_nu L``) is zero up to BatchNorm's epsilon. The
  function computes both gradients with the model's epsilon and with a negligible one
  (1e-30), in float64, and the share of the gradient that exists only because of epsilon,
  for the whole of ``grad_nu L`` and for each factor the context makes (with
  ``context_gain="head"`` also the head gain, which no BatchNorm hides).
* ``effective_inner_steps``: the size of each inner update relative to the weight it
  updates, ``||lr * grad|| / ||w||``, per layer: the learning rate that matters under
  BatchNorm, comparable across MAML, LSLR, IGS and CxGrad.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import grad, vjp

from cxgrad.analysis.gradients import layer_groups, task_traces
from cxgrad.data.episodes import EpisodeSampler
from cxgrad.device import params_device
from cxgrad.errors import ConfigError
from cxgrad.meta.context import gphi, head_gain
from cxgrad.meta.learner import InnerTrace, MetaLearner, Params

HEAD_GAIN = "head gain"  # the name of the head gain among ContextDependence.layers
NO_EPS = 1e-30  # BatchNorm's epsilon made negligible (0 could divide by zero)


def _require_context(learner: MetaLearner) -> None:
    if learner.meta.method != "cxgrad":
        raise ConfigError(
            f"the context exists only for method 'cxgrad', not {learner.meta.method!r}"
        )


@dataclass
class ContextDependence:
    """Per-task gammas ``[T, steps, L]`` and context norms ``[T, steps]`` of T tasks.

    ``gamma_at_zero`` is ``g_phi(0)`` (``[L]``); ``layers`` names the L scaled layers, and
    with ``context_gain="head"`` the last factor is the head gain (``HEAD_GAIN``).
    """

    layers: list[str]
    gammas: np.ndarray
    context_norms: np.ndarray
    gamma_at_zero: np.ndarray

    def task_gammas(self) -> np.ndarray:
        """Each task's gamma per layer, averaged over its inner steps: ``[T, L]``."""
        return self.gammas.mean(axis=1)

    def mean(self) -> np.ndarray:
        return self.task_gammas().mean(axis=0)

    def relative_spread(self) -> np.ndarray:
        """Standard deviation of gamma across tasks divided by its mean, per layer."""
        per_task = self.task_gammas()
        return per_task.std(axis=0, ddof=1) / per_task.mean(axis=0)

    def distance_from_zero_context(self) -> np.ndarray:
        """Mean over tasks and steps of ``|gamma - g_phi(0)| / g_phi(0)``, per layer."""
        return (np.abs(self.gammas - self.gamma_at_zero) / self.gamma_at_zero).mean(axis=(0, 1))

    def group_separation(self, group: np.ndarray) -> np.ndarray:
        """Per layer, the difference of gamma's mean between tasks with ``group`` True and
        False, in units of the pooled within-group standard deviation (Cohen's d); 0 when
        both groups have exactly the same gammas."""
        per_task = self.task_gammas()
        group = np.asarray(group, dtype=bool)
        if group.all() or not group.any():
            raise ValueError("group_separation needs tasks in both groups")
        a, b = per_task[group], per_task[~group]
        pooled = np.sqrt((a.var(axis=0, ddof=1) + b.var(axis=0, ddof=1)) / 2)
        diff = a.mean(axis=0) - b.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(pooled > 0, diff / np.where(pooled > 0, pooled, 1), 0.0)


def context_dependence(
    learner: MetaLearner, params: Params, sampler: EpisodeSampler, tasks: int, first: int = 0
) -> ContextDependence:
    """Adapt CxGrad to tasks ``first..first+tasks-1`` (as at evaluation) and record the
    gammas and contexts of every inner step."""
    _require_context(learner)
    device = params_device(params)
    params = {k: v.detach() for k, v in params.items()}
    gammas, norms = [], []
    for index in range(first, first + tasks):
        batch = sampler.batch(index, 1).to(device)
        trace = InnerTrace()
        learner.adapt(
            params,
            batch.x_support[0],
            batch.y_support[0],
            learner.meta.inner_steps_eval,
            first_order=True,
            trace=trace,
        )
        factors = trace.gammas
        if trace.head_gains:  # the head gain is one more factor of the context
            factors = [[*g, h] for g, h in zip(trace.gammas, trace.head_gains, strict=True)]
        gammas.append(factors)
        norms.append([float(np.linalg.norm(nu)) for nu in trace.contexts])
    zero = torch.zeros(learner.meta.context_dim, dtype=next(iter(params.values())).dtype)
    on_cpu = {k: v.cpu() for k, v in params.items()}
    at_zero = gphi(on_cpu, zero).numpy()
    layers = list(learner.scaled_names)
    if learner.meta.context_gain == "head":
        at_zero = np.append(at_zero, float(head_gain(on_cpu, zero)))
        layers.append(HEAD_GAIN)
    return ContextDependence(
        layers=layers,
        gammas=np.asarray(gammas, dtype=np.float64),
        context_norms=np.asarray(norms, dtype=np.float64),
        gamma_at_zero=at_zero.astype(np.float64),
    )


def context_gradient(
    learner: MetaLearner, params: Params, x_support: torch.Tensor, y_support: torch.Tensor
) -> dict[str, np.ndarray | float | list[str]]:
    """The gradients that move CxGrad's context at its first update (nu = 0), in float64.

    Returns ``grad_gamma`` and ``grad_gamma_no_eps`` (``dL/dgamma_l`` per layer),
    ``grad_nu_norm`` and ``grad_nu_norm_no_eps`` (``||grad_nu L||``), and ``eps_share``,
    ``||grad_nu - grad_nu_no_eps|| / ||grad_nu||``: the part of the context's gradient that
    exists only because of BatchNorm's epsilon (1 means all of it).

    Per factor of ``learner.context_factors`` (named by ``factors``: the gammas, then the
    head gain with ``context_gain="head"``): ``grad_factor`` and ``grad_factor_no_eps``
    (``dL/dfactor``), ``factor_eps_share`` (``|g - g_no_eps| / |g|``) and
    ``factor_move``, how far the first context step ``nu = -beta grad_nu L`` moves each
    factor, ``|f(nu) - f(0)| / f(0)``, with the model's eps.
    """
    _require_context(learner)
    if not hasattr(learner.model, "bn_eps"):
        raise ConfigError(f"{type(learner.model).__name__} has no bn_eps to switch off")
    params = {k: v.detach().cpu().double() for k, v in params.items()}
    x, y = x_support.detach().cpu().double(), y_support.detach().cpu()
    exact = MetaLearner(dataclasses.replace(learner.model, bn_eps=NO_EPS), learner.meta)
    zero = torch.zeros(learner.meta.context_dim, dtype=torch.float64)
    factors0, pullback = vjp(lambda nu: learner.context_factors(params, nu), zero)

    def grad_factors(model: MetaLearner) -> torch.Tensor:
        return grad(lambda f: model.support_loss_of_factors(params, f, x, y))(factors0)

    # grad_nu L = J^T dL/dfactors (the chain rule; the context reaches L only through them)
    g_factors, g_factors_exact = grad_factors(learner), grad_factors(exact)
    (g_nu,) = pullback(g_factors)
    (g_nu_exact,) = pullback(g_factors_exact)
    norm = float(g_nu.norm())
    moved = learner.context_factors(params, zero - learner.meta.context_lr * g_nu)
    layers = len(learner.scaled_names)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor_share = np.abs((g_factors - g_factors_exact).numpy()) / np.abs(g_factors.numpy())
    return {
        "grad_gamma": g_factors[:layers].numpy(),
        "grad_gamma_no_eps": g_factors_exact[:layers].numpy(),
        "grad_nu_norm": norm,
        "grad_nu_norm_no_eps": float(g_nu_exact.norm()),
        "eps_share": float((g_nu - g_nu_exact).norm()) / norm if norm > 0 else float("nan"),
        "factors": learner.factor_names(),
        "grad_factor": g_factors.numpy(),
        "grad_factor_no_eps": g_factors_exact.numpy(),
        "factor_eps_share": factor_share,
        "factor_move": ((moved - factors0).abs() / factors0).numpy(),
    }


def effective_inner_steps(
    learner: MetaLearner, params: Params, batch, steps: int | None = None
) -> dict[str, float]:
    """Mean relative update ``||lr * grad|| / ||w||`` per layer over the tasks of ``batch``
    and the inner steps (for a group of tensors, such as the head's weight and bias, the
    group's first tensor, its weight). For CxGrad and IGS ``w`` is the rescaled weight at
    which the step is taken. Steps default to the training step count; gradients are first
    order (the sizes do not depend on the order)."""
    params = {k: v.detach() for k, v in params.items()}
    groups = layer_groups(learner)
    totals = dict.fromkeys(groups, 0.0)
    count = 0
    for trace in task_traces(learner, params, batch, steps):
        for step in trace.relative_steps:
            for layer, tensors in groups.items():
                totals[layer] += step[tensors[0]]
            count += 1
    return {layer: total / max(count, 1) for layer, total in totals.items()}
