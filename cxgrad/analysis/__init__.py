"""Analyses: what a trained learner does, measured as the paper and chapters 10 to 12 measure it.

Per-layer gradient norms (Fig. 2), CKA before/after adaptation (Fig. 3), t-SNE of features
(Fig. 4), the inner-loop landscape (appendix C, Fig. 5), and the context's dependence on
the task (chapter 10).
"""

from cxgrad.analysis.cka import adaptation_cka, linear_cka
from cxgrad.analysis.embedding import adapted_features, tsne
from cxgrad.analysis.gradients import direction_step_size, inner_gradient_norms, layer_groups
from cxgrad.analysis.landscape import LEARNING_RATE_MULTIPLIERS, landscape_measures

__all__ = [
    "LEARNING_RATE_MULTIPLIERS",
    "adaptation_cka",
    "adapted_features",
    "direction_step_size",
    "inner_gradient_norms",
    "landscape_measures",
    "layer_groups",
    "linear_cka",
    "tsne",
]
