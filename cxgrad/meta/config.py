"""Hyperparameters of the inner loop, one frozen dataclass shared by every method."""

from __future__ import annotations

from dataclasses import dataclass

from cxgrad.errors import ConfigError

METHODS = ("maml", "anil", "boil", "cxgrad", "igs")
# Methods that may learn their inner step sizes (MAML++'s LSLR); CxGrad and IGS scale
# their steps through the weight norm instead.
LSLR_METHODS = ("maml", "anil", "boil")
CONTEXT_SCHEMES = ("task-wise", "step-wise")


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
    """

    method: str = "maml"
    inner_steps_train: int = 5
    inner_steps_eval: int = 5
    inner_lr: float = 0.01
    first_order: bool = False
    context_dim: int = 100
    context_hidden: int = 100
    context_lr: float = 1.0
    context_scheme: str = "task-wise"
    learned_inner_lr: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.context_scheme not in CONTEXT_SCHEMES:
            raise ConfigError(
                f"unknown context scheme {self.context_scheme!r}; choose one of "
                f"{', '.join(CONTEXT_SCHEMES)}"
            )
        for name in ("inner_steps_train", "inner_steps_eval"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.learned_inner_lr and self.method not in LSLR_METHODS:
            raise ConfigError(
                "learned inner step sizes (LSLR, --learned-inner-lr) are offered for "
                f"{', '.join(LSLR_METHODS)}, not {self.method!r}: CxGrad and IGS set their "
                "steps through the weight norm"
            )
        if self.learned_inner_lr and self.inner_steps_train < 1:
            raise ConfigError("learned inner step sizes need inner_steps_train >= 1")
        if not self.context_lr >= 0:
            raise ConfigError(
                f"context_lr (beta) must be >= 0 (0 freezes the context), got {self.context_lr}"
            )
        if self.context_dim < 1 or self.context_hidden < 1:
            raise ConfigError("context_dim and context_hidden must be >= 1")
