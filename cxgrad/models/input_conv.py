"""The first convolution, whose input (the images) needs no gradient, without the wasted
part of its double backward.

Second-order meta-learning differentiates the inner loop's gradients: autograd's double
backward of a convolution (ATen's ``_convolution_double_backward``) then also computes the
gradient with respect to the convolution's *input*, a transposed convolution, even where
that input is a batch of images that nothing differentiates. For the first layer at the
paper's 84x84 RGB shape that is a ``[5, 48, 84, 84] -> [5, 3, 84, 84]`` transposed
convolution at every inner step, a narrow one that runs far below the cores' peak: about 7 ms
each on one core, some 4% of a CxGrad step, thrown away.

``conv3x3`` is ``F.conv2d(x, weight, padding=1, groups=groups)`` with a backward of
our own for that case: the weight's gradient from the same ATen kernel autograd calls
(``convolution_backward``, weight only), itself an ``autograd.Function`` whose backward is
the one term the meta-gradient needs, ``conv2d(x, grad)``. The forward, the gradient and the
second-order gradient are the same bits as autograd's (tested on both paths, both dtypes,
MAML and CxGrad); only the discarded transposed convolution is not computed.

It applies on a CPU outside ``torch.func`` transforms of ``x`` and ``torch.compile``; there,
and wherever ``x`` requires a gradient, it is plain ``F.conv2d``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_STRIDE = [1, 1]
_PADDING = [1, 1]
_DILATION = [1, 1]
_WEIGHT_ONLY = [False, True, False]


def _conv(x: torch.Tensor, weight: torch.Tensor, groups: int) -> torch.Tensor:
    return F.conv2d(x, weight, padding=1, groups=groups)


class _WeightGradient(torch.autograd.Function):
    """The weight's gradient of a 3x3 'same' convolution of ``x``: linear in ``grad``, and
    its own backward gives ``grad`` a gradient only (not the fixed ``x``, and the value does
    not depend on the weight's value)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(  # type: ignore[override]
        grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, groups: int
    ) -> torch.Tensor:
        return torch.ops.aten.convolution_backward(
            grad,
            x,
            weight,
            None,
            _STRIDE,
            _PADDING,
            _DILATION,
            False,
            [0, 0],
            groups,
            _WEIGHT_ONLY,
        )[1]

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        _, x, _, groups = inputs
        ctx.save_for_backward(x)
        ctx.groups = groups

    @staticmethod
    def backward(ctx, weight_grad_grad: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return _conv(x, weight_grad_grad, ctx.groups), None, None, None


class _InputConv(torch.autograd.Function):
    """``conv2d(x, weight, padding=1)`` for an ``x`` that needs no gradient."""

    generate_vmap_rule = True

    @staticmethod
    def forward(  # type: ignore[override]
        x: torch.Tensor, weight: torch.Tensor, groups: int
    ) -> torch.Tensor:
        return _conv(x, weight, groups)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        x, weight, groups = inputs
        ctx.save_for_backward(x, weight)
        ctx.groups = groups

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        return None, _WeightGradient.apply(grad, x, weight, ctx.groups), None


def skips_input_gradient(x: torch.Tensor) -> bool:
    """Whether ``conv3x3`` takes its own backward for ``x``: a CPU tensor that needs
    no gradient, not wrapped by a ``torch.func`` transform, outside ``torch.compile``."""
    return (
        x.device.type == "cpu"
        and not x.requires_grad
        and not torch._C._functorch.is_functorch_wrapped_tensor(x)
        and not torch.compiler.is_compiling()
    )


def conv3x3(x: torch.Tensor, weight: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """``F.conv2d(x, weight, padding=1, groups=groups)``: the same bits forward, backward and
    double backward, and where ``x`` needs no gradient, without the double backward's
    gradient for ``x``."""
    if not skips_input_gradient(x):
        return _conv(x, weight, groups)
    return _InputConv.apply(x, weight, groups)
