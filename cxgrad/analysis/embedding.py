"""Features before and after adaptation, and their t-SNE embedding (Figure 4)."""

from __future__ import annotations

import numpy as np
import torch

from cxgrad.device import to_params_device
from cxgrad.meta.learner import MetaLearner, Params


def adapted_features(
    learner: MetaLearner,
    params: Params,
    x_support: torch.Tensor,
    y_support: torch.Tensor,
    x_query: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flattened outputs of the last backbone block for ``x_query``, with the meta-learned
    parameters and with the task-adapted ones (as in the paper's Figure 4), on the
    parameters' device (the images are moved there)."""
    params = {k: v.detach() for k, v in params.items()}
    (x_query,) = to_params_device(params, x_query)  # adapt moves the support set itself
    fast = learner.adapt(params, x_support, y_support, learner.meta.inner_steps_eval, True)
    with torch.no_grad():
        before = learner.model.features(params, x_query)[-1].flatten(1)
        after = learner.model.features(fast, x_query)[-1].flatten(1)
    return before, after


def tsne(
    features: torch.Tensor | np.ndarray, seed: int = 0, perplexity: float = 10.0
) -> np.ndarray:
    """2-D t-SNE embedding (scikit-learn), seeded so that figures are reproducible."""
    from sklearn.manifold import TSNE

    data = np.asarray(features.detach().cpu() if isinstance(features, torch.Tensor) else features)
    perplexity = min(perplexity, (len(data) - 1) / 3)
    return TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(
        data.astype(np.float64)
    )
