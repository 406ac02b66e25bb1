"""Hyperparameters of the inner loop, one frozen dataclass shared by every method."""

from __future__ import annotations

from dataclasses import dataclass

from cxgrad.errors import ConfigError
from cxgrad.options import check_choices, check_minimums, network_option, option

METHODS = ("maml", "anil", "boil", "cxgrad", "igs")
# Methods that may learn their inner step sizes (MAML++'s LSLR); CxGrad and IGS scale
# their steps through the weight norm instead.
LSLR_METHODS = ("maml", "anil", "boil")
CONTEXT_SCHEMES = ("task-wise", "step-wise")
# Where CxGrad's context acts besides IGS: nowhere (the paper), or also as a gain on the
# features entering the head, which no BatchNorm hides from the support loss.
CONTEXT_GAINS = ("none", "head")


@dataclass(frozen=True)
class MetaConfig:
    """Inner-loop settings. Defaults are the paper's appendix A.

    ``inner_lr`` is alpha, ``context_lr`` is beta. ``first_order`` drops the second-order
    terms of the meta-gradient (FOMAML); the paper and its code use second order.

    Controls beside the paper's methods (they never change its defaults):

    * ``context_lr = 0`` freezes CxGrad's context: nu stays exactly 0, so every task gets
      the same gamma = g_phi(0), one meta-learned factor per layer.
    * ``method="igs"``: IGS with a fixed gamma = 1 (every conv weight reset to unit norm
      before each inner step), no g_phi and no context: the normalization alone.
    * ``learned_inner_lr``: MAML++'s LSLR, one meta-learned inner step size per adapted
      tensor and inner step, initialized at ``inner_lr`` (MAML, ANIL and BOIL).
    * ``context_gain="head"`` (CxGrad): g_phi also makes a gain tau that multiplies the
      features entering the head. Every gamma of IGS scales a conv weight that feeds a
      BatchNorm, so the support loss sees it only through BatchNorm's eps (Eq. 4) and the
      context barely moves. A gain after the last block is not normalized away, so
      ``grad_nu L`` gets a real component and the inner loop can move nu, and with it
      every gamma. (A gain on an earlier block's output would not do: LeakyReLU, max-pool
      and the next conv are positively homogeneous, so the next BatchNorm cancels it up
      to eps; a gain on the normalized values before BatchNorm's shift beta is cancelled
      the same way while beta is 0, as at initialization.) The query loss uses the
      context after the last inner step.
    """

    method: str = network_option(
        "maml",
        "meta-learning method; igs is a control: IGS with a fixed gamma = 1 (each conv "
        "weight reset to unit norm before every inner step), no context",
        choices=METHODS,
    )
    inner_steps_train: int = option(
        5, "inner steps during meta-training", flag="--inner-steps", minimum=0
    )
    inner_steps_eval: int = option(5, "inner steps at validation and test time", minimum=0)
    inner_lr: float = option(0.01, "alpha, inner-loop SGD learning rate")
    first_order: bool = option(
        False, "first-order meta-gradients (FOMAML); the paper uses second order"
    )
    context_dim: int = network_option(100, "dimension of CxGrad's context parameters nu", minimum=1)
    context_hidden: int = network_option(100, "hidden width of g_phi", minimum=1)
    context_lr: float = option(
        1.0,
        "beta, CxGrad's context learning rate; 0 freezes the context (nu = 0, so every task "
        "gets gamma = g_phi(0), a meta-learned factor per layer)",
    )
    context_scheme: str = option(
        "task-wise",
        "CxGrad context updates: task-wise (paper) or step-wise (Table 3)",
        choices=CONTEXT_SCHEMES,
    )
    context_gain: str = network_option(
        "none",
        "CxGrad: none (paper: gamma only rescales conv weights, which BatchNorm hides from "
        "the loss up to its eps) or head (g_phi also makes a gain on the features entering "
        "the head, which the support loss sees, so the inner loop can move the context)",
        choices=CONTEXT_GAINS,
    )
    learned_inner_lr: bool = network_option(
        False,
        "meta-learn one inner step size per adapted tensor and inner step, starting at "
        "--inner-lr (MAML++'s LSLR; for maml, anil and boil)",
    )

    def __post_init__(self) -> None:
        check_choices(self, ConfigError)
        if self.context_gain != "none" and self.method != "cxgrad":
            raise ConfigError(
                f"--context-gain {self.context_gain} is CxGrad's (g_phi makes the gain from "
                f"the context); method {self.method!r} has no context: use --method cxgrad "
                "or drop --context-gain"
            )
        check_minimums(self, ConfigError)
        if self.learned_inner_lr and self.method not in LSLR_METHODS:
            raise ConfigError(
                "learned inner step sizes (LSLR, --learned-inner-lr) are offered for "
                f"{', '.join(LSLR_METHODS)}, not {self.method!r}: CxGrad and IGS set their "
                "steps through the weight norm"
            )
        if self.learned_inner_lr and self.inner_steps_train < 1:
            raise ConfigError(
                "learned inner step sizes need inner_steps_train >= 1 (--inner-steps 1 or more)"
            )
        if not self.context_lr >= 0:
            raise ConfigError(
                "--context-lr must be >= 0 (beta; 0 freezes CxGrad's context), "
                f"got {self.context_lr}"
            )
