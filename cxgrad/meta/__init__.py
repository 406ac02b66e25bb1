"""Meta-learners: MAML, ANIL, BOIL and CxGrad."""

from cxgrad.meta.config import CONTEXT_GAINS, CONTEXT_SCHEMES, METHODS, MetaConfig
from cxgrad.meta.context import gphi, head_gain, implicit_gradient_scaling, init_gphi
from cxgrad.meta.learner import InnerTrace, MetaLearner, cross_entropy_and_accuracy
from cxgrad.meta.step import meta_gradient

__all__ = [
    "CONTEXT_GAINS",
    "CONTEXT_SCHEMES",
    "METHODS",
    "InnerTrace",
    "MetaConfig",
    "MetaLearner",
    "cross_entropy_and_accuracy",
    "gphi",
    "head_gain",
    "implicit_gradient_scaling",
    "init_gphi",
    "meta_gradient",
]
