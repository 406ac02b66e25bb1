"""Linear CKA (Kornblith et al. 2019) between features before and after adaptation."""

from __future__ import annotations

import torch

from cxgrad.device import to_params_device
from cxgrad.meta.learner import MetaLearner, Params


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA of two representations of the same n examples (``[n, d1]``, ``[n, d2]``):
    ``||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)`` after centering. 1 means identical up
    to rotation and isotropic scaling.

    Computed in float64 from the n x n Gram matrices ``K = X X^T`` and ``L = Y Y^T``, as
    ``<K, L>_F / (||K||_F ||L||_F)``: the same number, since ``||Y^T X||_F^2 = tr(K L)``
    and ``||X^T X||_F = ||K||_F``, but in memory n^2 instead of d^2 (d is 84,672 for
    miniImageNet's first block: 57 GB per d x d matrix). ``y`` joins ``x``'s device.
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs the same examples: {x.shape[0]} vs {y.shape[0]} rows")
    x = x.flatten(1).double()
    y = y.flatten(1).double().to(x.device)
    x = x - x.mean(0, keepdim=True)
    y = y - y.mean(0, keepdim=True)
    k, l = x @ x.T, y @ y.T
    cross = (k * l).sum()
    norm = torch.linalg.matrix_norm(k) * torch.linalg.matrix_norm(l)
    return float(cross / norm)


def adaptation_cka(
    learner: MetaLearner,
    params: Params,
    x_support: torch.Tensor,
    y_support: torch.Tensor,
    x_query: torch.Tensor,
) -> list[float]:
    """CKA per backbone block between the query features of the meta-learned parameters
    and of the parameters adapted to this task's support set (Figure 3). Low values in a
    block mean adaptation changed its representation. The images join the parameters'
    device."""
    params = {k: v.detach() for k, v in params.items()}
    (x_query,) = to_params_device(params, x_query)  # adapt moves the support set itself
    fast = learner.adapt(params, x_support, y_support, learner.meta.inner_steps_eval, True)
    with torch.no_grad():
        before = learner.model.features(params, x_query)
        after = learner.model.features(fast, x_query)
    return [linear_cka(a, b) for a, b in zip(before, after, strict=True)]
