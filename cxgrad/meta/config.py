"""Hyperparameters of the inner loop, one frozen dataclass shared by every method."""

from __future__ import annotations

from dataclasses import dataclass

from cxgrad.errors import ConfigError

METHODS = ("maml", "anil", "boil", "cxgrad")
CONTEXT_SCHEMES = ("task-wise", "step-wise")


@dataclass(frozen=True)
class MetaConfig:
    """Inner-loop settings. Defaults are the paper's appendix A.

    ``inner_lr`` is alpha, ``context_lr`` is beta. ``first_order`` drops the second-order
    terms of the meta-gradient (FOMAML); the paper and its code use second order.
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
        if self.context_dim < 1 or self.context_hidden < 1:
            raise ConfigError("context_dim and context_hidden must be >= 1")
