"""ResNet-12 as in the paper's appendix B, as a parameter dict and a pure forward function.

Four residual blocks. Each has three conv blocks (3x3 conv without bias -> BatchNorm ->
activation; the third conv's activation comes after the residual sum, as in the usual
few-shot ResNet-12), a 1x1 conv -> BatchNorm on the skip path to match channels, and a 2x2
max-pool at the end. Channels start at ``channels`` (64) and double per block
(64-128-256-512); global average pooling feeds the linear head.

CxGrad scales the three convs of each block (12 layers, so g_phi outputs 12 gammas) and
not the skip conv, as the appendix says. All conv weights, the skip convs included, adapt
in the inner loop; BatchNorm parameters are meta-learned only, as in Conv4.

Parameter names: ``block{b}.conv{c}.weight``, ``block{b}.bn{c}.weight|bias`` for c = 1..3,
``block{b}.skip.weight``, ``block{b}.skip_bn.weight|bias`` and ``head.weight|bias``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from cxgrad.models.conv4 import ACTIVATIONS, _xavier_uniform

Params = dict[str, torch.Tensor]


@dataclass(frozen=True)
class ResNet12Config:
    ways: int = 5
    in_channels: int = 3
    image_size: int = 84
    channels: int = 64
    activation: str = "leaky_relu"
    bn_eps: float = 1e-5
    blocks: int = 4
    # No grouped-convolution forward: the learner batches ResNet-12 with torch.func.vmap.
    folds_tasks: ClassVar[bool] = False

    @property
    def widths(self) -> list[int]:
        return [self.channels * 2**b for b in range(self.blocks)]

    @property
    def feature_dim(self) -> int:
        return self.widths[-1]

    def block_convs(self, b: int) -> list[str]:
        return [f"block{b}.conv{c}.weight" for c in (1, 2, 3)]

    def body_names(self) -> list[str]:
        names = []
        for b in range(1, self.blocks + 1):
            names += self.block_convs(b) + [f"block{b}.skip.weight"]
        return names

    def scaled_names(self) -> list[str]:
        return [n for b in range(1, self.blocks + 1) for n in self.block_convs(b)]

    def init(self, generator: torch.Generator | None = None) -> Params:
        if self.image_size < 2**self.blocks:
            raise ValueError(
                f"image_size {self.image_size} is too small for {self.blocks} max-pools"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        params: Params = {}
        c_in = self.in_channels
        for b, width in enumerate(self.widths, start=1):
            for c in (1, 2, 3):
                fan_in = c_in if c == 1 else width
                weight = torch.empty(width, fan_in, 3, 3)
                params[f"block{b}.conv{c}.weight"] = _xavier_uniform(weight, generator)
                params[f"block{b}.bn{c}.weight"] = torch.ones(width)
                params[f"block{b}.bn{c}.bias"] = torch.zeros(width)
            skip = torch.empty(width, c_in, 1, 1)
            params[f"block{b}.skip.weight"] = _xavier_uniform(skip, generator)
            params[f"block{b}.skip_bn.weight"] = torch.ones(width)
            params[f"block{b}.skip_bn.bias"] = torch.zeros(width)
            c_in = width
        head = torch.empty(self.ways, self.feature_dim)
        params["head.weight"] = _xavier_uniform(head, generator)
        params["head.bias"] = torch.zeros(self.ways)
        return params

    def _act(self, h: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(h, 0.01) if self.activation == "leaky_relu" else F.relu(h)

    def _bn(self, params: Params, h: torch.Tensor, name: str) -> torch.Tensor:
        return F.batch_norm(
            h,
            None,
            None,
            params[f"{name}.weight"],
            params[f"{name}.bias"],
            True,
            0.0,
            self.bn_eps,
        )

    def _block(self, params: Params, x: torch.Tensor, b: int) -> torch.Tensor:
        h = x
        for c in (1, 2, 3):
            h = F.conv2d(h, params[f"block{b}.conv{c}.weight"], padding=1)
            h = self._bn(params, h, f"block{b}.bn{c}")
            if c < 3:
                h = self._act(h)
        skip = self._bn(params, F.conv2d(x, params[f"block{b}.skip.weight"]), f"block{b}.skip_bn")
        # Pool, then activate: the same values and gradients to the bit (the activation is
        # non-decreasing, see conv4._block), on a quarter of the elements.
        return self._act(F.max_pool2d(h + skip, 2))

    def features(self, params: Params, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        h = x
        for b in range(1, self.blocks + 1):
            h = self._block(params, h, b)
            feats.append(h)
        return feats

    def forward_tasks(self, params: Params, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(
            "ResNet12Config does not fold tasks (folds_tasks is False); MetaLearner batches "
            "it with torch.func.vmap instead"
        )

    def forward(self, params: Params, x: torch.Tensor) -> torch.Tensor:
        h = self.features(params, x)[-1]
        pooled = h.mean(dim=(2, 3))
        return F.linear(pooled, params["head.weight"], params["head.bias"])
