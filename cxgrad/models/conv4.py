"""Conv4 (Vinyals et al. 2016) as a parameter dict and a pure forward function.

Four blocks of [3x3 conv, stride 1, padding 1, no bias -> BatchNorm -> activation ->
2x2 max-pool], then a linear head with bias (computed as pool-then-activation, which is the
same function with the same gradients, see ``_block``). This is the backbone of the paper's
Tables 1-5, built the way the authors' code builds it:

* BatchNorm always normalizes with the statistics of the batch it is given (support and
  query separately, in training and evaluation). There are no running statistics, so the
  function is pure: the same parameters and inputs always give the same output.
* The conv has no bias: BatchNorm would cancel it, and CxGrad's scale invariance (Eq. 4)
  needs the conv output to scale exactly with its weight.
* LeakyReLU(0.01) by default, as in the code (the paper's text says ReLU; ``activation="relu"``).

Parameter names: ``conv{l}.weight``, ``bn{l}.weight``, ``bn{l}.bias`` for l = 1..4 and
``head.weight``, ``head.bias``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from cxgrad.models._pooling import max_pool2x2

Params = dict[str, torch.Tensor]

ACTIVATIONS = ("leaky_relu", "relu")


@dataclass(frozen=True)
class Conv4Config:
    ways: int = 5
    in_channels: int = 1
    image_size: int = 28
    filters: int = 64
    activation: str = "leaky_relu"
    bn_eps: float = 1e-5
    layers: int = 4
    # B tasks run as grouped convolutions (forward_tasks); not a field of the configuration.
    folds_tasks: ClassVar[bool] = True

    @property
    def feature_size(self) -> int:
        """Spatial side after ``layers`` 2x2 max-pools (floor, as nn.MaxPool2d does)."""
        side = self.image_size
        for _ in range(self.layers):
            side //= 2
        return side

    @property
    def feature_dim(self) -> int:
        return self.filters * self.feature_size**2

    def conv_names(self) -> list[str]:
        return [f"conv{layer}.weight" for layer in range(1, self.layers + 1)]

    # The Backbone interface (see cxgrad.models.backbone) ---------------------------
    def body_names(self) -> list[str]:
        """Weights that adapt in the inner loop besides the head (BN is meta-learned only)."""
        return self.conv_names()

    def scaled_names(self) -> list[str]:
        """Weights that CxGrad's IGS rescales: every conv (each feeds a BatchNorm)."""
        return self.conv_names()

    def init(self, generator: torch.Generator | None = None) -> Params:
        return init_conv4(self, generator)

    def forward(self, params: Params, x: torch.Tensor) -> torch.Tensor:
        return conv4_forward(params, x, self)

    def forward_tasks(self, params: Params, x: torch.Tensor) -> torch.Tensor:
        return conv4_forward_tasks(params, x, self)

    def features(self, params: Params, x: torch.Tensor) -> list[torch.Tensor]:
        return conv4_features(params, x, self)


def init_conv4(config: Conv4Config, generator: torch.Generator | None = None) -> Params:
    """Xavier-uniform conv and head weights, zero head bias, BN gamma 1 and beta 0."""
    if config.feature_size < 1:
        raise ValueError(
            f"image_size {config.image_size} is too small for {config.layers} 2x2 max-pools"
        )
    if config.activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {config.activation!r}")
    params: Params = {}
    channels = config.in_channels
    for layer in range(1, config.layers + 1):
        weight = torch.empty(config.filters, channels, 3, 3)
        params[f"conv{layer}.weight"] = _xavier_uniform(weight, generator)
        params[f"bn{layer}.weight"] = torch.ones(config.filters)
        params[f"bn{layer}.bias"] = torch.zeros(config.filters)
        channels = config.filters
    params["head.weight"] = _xavier_uniform(torch.empty(config.ways, config.feature_dim), generator)
    params["head.bias"] = torch.zeros(config.ways)
    return params


def _xavier_uniform(t: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    fan_out = t.shape[0] * (t[0][0].numel() if t.dim() > 2 else 1)
    fan_in = t.shape[1] * (t[0][0].numel() if t.dim() > 2 else 1)
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return t.uniform_(-bound, bound, generator=generator)


def conv4_features(params: Params, x: torch.Tensor, config: Conv4Config) -> list[torch.Tensor]:
    """Outputs of each block (after pooling), for the analyses of Figures 3 and 4.

    ``x`` is ``[batch, C, H, W]``.
    """
    feats = []
    h = x
    for layer in range(1, config.layers + 1):
        h = _block(params, h, layer, config)
        feats.append(h)
    return feats


def _block(params: Params, h: torch.Tensor, layer: int, config: Conv4Config) -> torch.Tensor:
    h = F.conv2d(h, params[f"conv{layer}.weight"], padding=1)
    # training=True with no running buffers: normalize with this batch's statistics only.
    h = F.batch_norm(
        h,
        None,
        None,
        params[f"bn{layer}.weight"],
        params[f"bn{layer}.bias"],
        training=True,
        eps=config.bn_eps,
    )
    # Pool, then activate: both activations are non-decreasing, so they commute with the max
    # (the same values, and the same window element wins a tie, so the same gradients, to
    # the bit), and the activation and its backward then touch a quarter of the elements.
    h = max_pool2x2(h)
    return F.leaky_relu(h, 0.01) if config.activation == "leaky_relu" else F.relu(h)


def conv4_forward(params: Params, x: torch.Tensor, config: Conv4Config) -> torch.Tensor:
    """Logits ``[batch, ways]`` for images ``x`` of shape ``[batch, C, H, W]``."""
    h = x
    for layer in range(1, config.layers + 1):
        h = _block(params, h, layer, config)
    return F.linear(h.flatten(1), params["head.weight"], params["head.bias"])


# Base rank of each kind of parameter; one more leading dimension means one tensor per task.
_BASE_RANK = {"conv": 4, "bn": 1, "head.weight": 2, "head.bias": 1}


def _per_task(t: torch.Tensor, base_rank: int, tasks: int) -> torch.Tensor:
    """``t`` stacked over tasks (``[B, ...]``): as given if it has a task dimension, else the
    shared tensor repeated (gradients flow back to it summed over tasks)."""
    if t.dim() == base_rank + 1:
        return t
    return t.unsqueeze(0).expand(tasks, *t.shape)


def conv4_forward_tasks(params: Params, x: torch.Tensor, config: Conv4Config) -> torch.Tensor:
    """Logits ``[B, N, ways]`` of B tasks at once: ``x`` is ``[B, N, C, H, W]``.

    Each parameter is either shared by all tasks (its usual shape) or per task (a leading
    dimension B). The tasks are folded into the channel dimension, ``[N, B*C, H, W]``: a
    grouped convolution (``groups=B``) applies each task's weights to its own channels, and
    BatchNorm, whose statistics are per channel, normalizes each task with its own batch
    statistics. This is exactly B separate ``conv4_forward`` calls, in a dozen kernels and
    without the layout copies that ``vmap`` makes around grouped convolutions and BatchNorm.
    All tasks must have the same number of images.
    """
    tasks, n, channels, height, width = x.shape
    h = x.transpose(0, 1).reshape(n, tasks * channels, height, width)
    for layer in range(1, config.layers + 1):
        weight = _per_task(params[f"conv{layer}.weight"], _BASE_RANK["conv"], tasks)
        h = F.conv2d(h, weight.flatten(0, 1), padding=1, groups=tasks)
        gamma = _per_task(params[f"bn{layer}.weight"], _BASE_RANK["bn"], tasks)
        beta = _per_task(params[f"bn{layer}.bias"], _BASE_RANK["bn"], tasks)
        h = F.batch_norm(
            h, None, None, gamma.flatten(), beta.flatten(), training=True, eps=config.bn_eps
        )
        h = max_pool2x2(h)  # before the activation, as in _block (bit-identical)
        # In place: max-pooling's backward needs its input and indices, not its output, so
        # the activation may overwrite it.
        if config.activation == "leaky_relu":
            h = F.leaky_relu(h, 0.01, inplace=True)
        else:
            h = F.relu(h, inplace=True)
    features = h.reshape(n, tasks, -1).transpose(0, 1)  # [B, N, filters * side * side]
    weight = _per_task(params["head.weight"], _BASE_RANK["head.weight"], tasks)
    bias = _per_task(params["head.bias"], _BASE_RANK["head.bias"], tasks)
    return torch.baddbmm(bias.unsqueeze(1), features, weight.transpose(1, 2))
