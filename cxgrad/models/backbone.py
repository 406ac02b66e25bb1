"""What a meta-learner needs from a backbone: parameters as a dict and pure functions."""

from __future__ import annotations

from typing import Protocol

import torch

Params = dict[str, torch.Tensor]

HEAD_NAMES = ("head.weight", "head.bias")


class Backbone(Protocol):
    """A frozen configuration object that builds and runs one network.

    Every backbone ends in a linear head named ``head.weight`` / ``head.bias`` and
    normalizes each conv output with batch-statistics BatchNorm, which is what makes
    CxGrad's rescaling of the ``scaled_names`` weights leave the forward pass unchanged.
    """

    ways: int
    bn_eps: float

    def init(self, generator: torch.Generator | None = None) -> Params: ...

    def forward(self, params: Params, x: torch.Tensor) -> torch.Tensor: ...

    def features(self, params: Params, x: torch.Tensor) -> list[torch.Tensor]: ...

    def body_names(self) -> list[str]: ...

    def scaled_names(self) -> list[str]: ...
