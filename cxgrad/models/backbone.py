"""What a meta-learner needs from a backbone: parameters as a dict and pure functions."""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

import torch

Params = dict[str, torch.Tensor]

HEAD_NAMES = ("head.weight", "head.bias")


@runtime_checkable
class Backbone(Protocol):
    """A frozen configuration object that builds and runs one network.

    Every backbone ends in a linear head named ``head.weight`` / ``head.bias`` and
    normalizes each conv output with batch-statistics BatchNorm, which is what makes
    CxGrad's rescaling of the ``scaled_names`` weights leave the forward pass unchanged.

    ``folds_tasks`` says whether ``forward_tasks`` runs B tasks in one forward (``x`` of
    shape ``[B, M, C, H, W]``, adapted tensors with a leading task dimension): the learner's
    batched path then calls it through the whole inner loop. A backbone that does not fold
    tasks raises ``NotImplementedError`` there and is batched with ``torch.func.vmap``.
    """

    ways: int
    bn_eps: float
    folds_tasks: ClassVar[bool]

    def init(self, generator: torch.Generator | None = None) -> Params: ...

    def forward(self, params: Params, x: torch.Tensor) -> torch.Tensor: ...

    def forward_tasks(self, params: Params, x: torch.Tensor) -> torch.Tensor: ...

    def features(self, params: Params, x: torch.Tensor) -> list[torch.Tensor]: ...

    def body_names(self) -> list[str]: ...

    def scaled_names(self) -> list[str]: ...
