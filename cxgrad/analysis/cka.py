"""Linear CKA (Kornblith et al. 2019) between features before and after adaptation."""

from __future__ import annotations

import torch

from cxgrad.meta.learner import MetaLearner, Params


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA of two representations of the same n examples (``[n, d1]``, ``[n, d2]``):
    ``||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)`` after centering. 1 means identical up
    to rotation and isotropic scaling."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs the same examples: {x.shape[0]} vs {y.shape[0]} rows")
    x = x.flatten(1).double()
    y = y.flatten(1).double()
    x = x - x.mean(0, keepdim=True)
    y = y - y.mean(0, keepdim=True)
    cross = torch.linalg.matrix_norm(y.T @ x) ** 2
    norm = torch.linalg.matrix_norm(x.T @ x) * torch.linalg.matrix_norm(y.T @ y)
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
    block mean adaptation changed its representation."""
    params = {k: v.detach() for k, v in params.items()}
    fast = learner.adapt(params, x_support, y_support, learner.meta.inner_steps_eval, True)
    with torch.no_grad():
        before = learner.model.features(params, x_query)
        after = learner.model.features(fast, x_query)
    return [linear_cka(a, b) for a, b in zip(before, after, strict=True)]
