"""Memory layout of the query forward pass on a CPU.

The query set is the large batch of a meta-training step (75 images against 5 in the
support set at 5-way 1-shot), and its forward pass is differentiated once, not twice. On a
CPU, oneDNN's convolution, BatchNorm and max-pooling are several times faster on
channels-last (NHWC) tensors than on NCHW ones at the paper's 84x84 shape; the double
backward through the inner loop's BatchNorm, on the other hand, is slower on NHWC (its
reductions run across the layout), so the support set stays NCHW. Two things keep the two
apart: the query images are converted to channels-last, and the gradients that flow from the
query pass back into the adapted conv weights are made NCHW-contiguous again before they
reach the inner loop's graph. Only the float rounding of the query pass changes (a different
summation order inside the convolution); the function and its gradient are the same.

The same holds on the batched path, where the tasks are folded into channels: at Omniglot's
28x28 with Conv4-32 and 2 threads, a CxGrad step took 0.169 s with the query pass
channels-last against 0.194 s NCHW, and the max-pool of the first layer's [75, 128, 28, 28]
query activations 1.9 ms against 11.8 ms (``benchmarks/profile_step.py --shapes``).
"""

from __future__ import annotations

import torch

Params = dict[str, torch.Tensor]


class _ContiguousGrad(torch.autograd.Function):
    """Identity whose backward returns the incoming gradient in the standard layout."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return grad.contiguous()


def channels_last_query(x_query: torch.Tensor, fast: Params) -> tuple[torch.Tensor, Params]:
    """``(x_query, fast)`` for the query forward: channels-last images and conv weights
    whose gradients come back NCHW, for float32 images on a CPU; unchanged otherwise (GPUs
    and float64).

    One task's images (``[M, C, H, W]``) are made channels-last. B tasks' images (``[B, M,
    C, H, W]``, the batched path) are stored so that folding them into channels
    (``conv4_forward_tasks``: ``[M, B*C, H, W]``) is a channels-last view with no copy:
    every layer after it then runs channels-last, as oneDNN keeps the layout of its input.
    """
    if x_query.device.type != "cpu" or x_query.dtype != torch.float32:
        return x_query, fast
    if x_query.dim() == 4:
        x_query = x_query.contiguous(memory_format=torch.channels_last)
    elif x_query.dim() == 5:
        x_query = folds_channels_last(x_query)
    else:
        return x_query, fast
    # Conv weights: [O, I, k, k], or [B, O, I, k, k] per task on the batched path.
    fast = {k: _ContiguousGrad.apply(v) if v.dim() >= 4 else v for k, v in fast.items()}
    return x_query, fast


def folds_channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` (``[B, M, C, H, W]``) with the same values, stored as ``[M, H, W, B, C]``:
    ``x.transpose(0, 1).reshape(M, B * C, H, W)`` is then a channels-last view."""
    return x.permute(1, 3, 4, 0, 2).contiguous().permute(3, 0, 4, 1, 2)
