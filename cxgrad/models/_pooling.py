"""2x2 max-pooling that is faster on NCHW CPU tensors and identical to the bit.

PyTorch's CPU max-pool kernel for NCHW (contiguous) tensors compares one element at a
time; its channels-last kernel is vectorised. The support set of the inner loop stays NCHW
(its BatchNorm double backward is slower channels-last: see ``cxgrad.meta._layout``), so its
pooling paid the slow kernel at every inner step. ``max_pool2x2`` finds the winning index of
each window with the channels-last kernel on a copy, without autograd, and takes the values
from the NCHW input with ``gather``:

* the values are the input's own elements, so they are the same bits;
* both kernels scan a window row by row and let a later element win only if it is greater
  (or NaN), so on a tie they pick the same element: the indices are the same;
* ``gather``'s backward scatters each output's gradient to its index, and 2x2 windows with
  stride 2 do not overlap, so every input receives at most one value, added to zero: the
  gradient is the same bits as max-pooling's backward, and so is the double backward (a
  gather by the same indices).

``python benchmarks/max_pool.py`` (one core): a ``[5, 48, 84, 84]`` support batch of the
paper's shape pools in 3.6 ms instead of 8.6, and its forward, backward and double backward
take 13.3 ms instead of 16.9. Because it changes no bit, Conv4 uses it on every CPU path;
elsewhere (GPUs, channels-last input, other dtypes, inside ``vmap``) ``max_pool2x2`` is
``F.max_pool2d(x, 2)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_GATHERED_DTYPES = (torch.float32, torch.float64)


def gathers_on(x: torch.Tensor) -> bool:
    """Whether ``max_pool2x2`` takes the gather route for ``x``: a float32/float64 NCHW
    tensor on a CPU, at least 2x2, and not inside ``torch.func.vmap``."""
    if (
        torch._C._functorch.is_batchedtensor(x)
        or x.device.type != "cpu"
        or x.dim() != 4
        or x.dtype not in _GATHERED_DTYPES
        or x.shape[-1] < 2
        or x.shape[-2] < 2
        or not x.is_contiguous()
    ):
        return False
    try:
        return not x.is_contiguous(memory_format=torch.channels_last)
    except RuntimeError:  # a vmap below another transform cannot answer: take max_pool2d
        return False


def max_pool2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)``, with the same values and gradients to the bit, faster on NCHW
    CPU tensors."""
    if not gathers_on(x):
        return F.max_pool2d(x, 2)
    with torch.no_grad():
        fast_layout = x.detach().contiguous(memory_format=torch.channels_last)
        _, indices = F.max_pool2d_with_indices(fast_layout, 2)
        indices = indices.contiguous()  # NCHW, as x: flat positions in each H*W plane
    batch, channels = x.shape[:2]
    pooled = x.reshape(batch, channels, -1).gather(2, indices.view(batch, channels, -1))
    return pooled.view(indices.shape)
