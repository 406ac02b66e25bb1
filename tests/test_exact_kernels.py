"""Conv4's two CPU shortcuts change no bit: ``max_pool2x2`` (the NCHW max-pool's indices
from the channels-last kernel, the values gathered) and ``conv3x3`` (the first layer's
double backward without the gradient for the images). Each is checked against the plain
PyTorch operation it replaces: values, gradients and second-order gradients equal to the
bit, ties and odd sizes included, and the whole meta-gradient of MAML and CxGrad on both
paths; and each is checked to take its shortcut where it should and only there."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import profile

import cxgrad.models.conv4 as conv4
from cxgrad.data.episodes import TaskBatch
from cxgrad.meta import MetaConfig, MetaLearner
from cxgrad.models import Conv4Config
from cxgrad.models.input_conv import conv3x3, skips_input_gradient
from cxgrad.models.pooling import gathers_on, max_pool2x2


def tied(shape, dtype=torch.float64, seed=0) -> torch.Tensor:
    """Values from {0, 1, 2}: most pooling windows hold a tie."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 3, shape, generator=g).to(dtype)


def pooled_to_second_order(pool, x: torch.Tensor, scale: torch.Tensor):
    """Output, gradient w.r.t. a per-channel scale (through the pool's backward), and the
    gradient of that gradient's square (through its double backward)."""
    w = scale.clone().requires_grad_()
    y = pool(x * w)
    (g,) = torch.autograd.grad(y.pow(3).sum(), w, create_graph=True)
    (gg,) = torch.autograd.grad((g * g).sum(), w)
    return y.detach(), g.detach(), gg


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ((3, 4, 8, 8), torch.float64),
        ((3, 4, 8, 8), torch.float32),
        ((2, 5, 21, 21), torch.float32),  # odd: the last row and column are dropped
        ((2, 3, 7, 10), torch.float64),
        ((1, 2, 3, 3), torch.float32),  # one window
    ],
)
def test_max_pool2x2_is_max_pool2d_to_the_bit(shape, dtype):
    x = tied(shape, dtype)
    assert gathers_on(x)
    scale = torch.rand(1, shape[1], 1, 1, dtype=dtype) + 0.5
    ours = pooled_to_second_order(max_pool2x2, x, scale)
    ref = pooled_to_second_order(lambda z: F.max_pool2d(z, 2), x, scale)
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)
    # The input's gradient too: each input receives its window's gradient or nothing.
    leaf = x.clone().requires_grad_()
    (ours_dx,) = torch.autograd.grad(max_pool2x2(leaf).sin().sum(), leaf)
    (ref_dx,) = torch.autograd.grad(F.max_pool2d(leaf, 2).sin().sum(), leaf)
    assert torch.equal(ours_dx, ref_dx)


def test_max_pool2x2_picks_the_same_element_on_infinities_and_nan():
    x = torch.tensor([[[[-torch.inf, -torch.inf], [1.0, torch.nan]]]]).repeat(2, 3, 2, 2)
    x[1, :, 0, 0] = torch.inf
    leaf = x.clone().requires_grad_()
    ref_leaf = x.clone().requires_grad_()
    ours, ref = max_pool2x2(leaf), F.max_pool2d(ref_leaf, 2)
    torch.testing.assert_close(ours, ref, rtol=0, atol=0, equal_nan=True)
    (ours_dx,) = torch.autograd.grad(ours.nan_to_num().sum(), leaf)
    (ref_dx,) = torch.autograd.grad(ref.nan_to_num().sum(), ref_leaf)
    assert torch.equal(ours_dx, ref_dx)


def test_max_pool2x2_takes_its_shortcut_only_on_nchw_cpu_floats():
    x = torch.rand(2, 3, 8, 8)
    assert gathers_on(x) and gathers_on(x.double())
    assert not gathers_on(x.contiguous(memory_format=torch.channels_last))  # already fast
    assert not gathers_on(x.half())
    assert not gathers_on(x[..., ::2])  # not contiguous
    assert not gathers_on(torch.rand(2, 3, 1, 8))  # too small: max_pool2d's own error
    assert not gathers_on(torch.rand(3, 8, 8))
    assert not torch.func.vmap(lambda z: torch.tensor(gathers_on(z)))(
        torch.rand(2, 2, 3, 8, 8)
    ).any()
    for fallback in (x.contiguous(memory_format=torch.channels_last), x.half(), x[..., ::2]):
        assert torch.equal(max_pool2x2(fallback), F.max_pool2d(fallback, 2))
    with pytest.raises(RuntimeError):
        max_pool2x2(torch.rand(2, 3, 1, 8))


def conv_to_second_order(conv, x: torch.Tensor, weight: torch.Tensor, groups: int):
    """Output, weight gradient (create_graph) and a second-order gradient through it."""
    w = weight.clone().requires_grad_()
    y = conv(x, w, groups)
    (g,) = torch.autograd.grad(y.pow(3).sum(), w, create_graph=True)
    (gg,) = torch.autograd.grad((g * g.detach().cos() + g**2).sum(), w)
    return y.detach(), g.detach(), gg


def plain_conv(x, w, groups=1):
    return F.conv2d(x, w, padding=1, groups=groups)


@pytest.mark.parametrize(
    ("dtype", "groups"), list(itertools.product((torch.float32, torch.float64), (1, 2)))
)
def test_conv3x3_is_conv2d_to_the_bit(dtype, groups):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 2 * groups, 9, 9, generator=g, dtype=dtype)
    weight = torch.randn(3 * groups, 2, 3, 3, generator=g, dtype=dtype)
    assert skips_input_gradient(x)
    ours = conv_to_second_order(conv3x3, x, weight, groups)
    ref = conv_to_second_order(plain_conv, x, weight, groups)
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)
    cl = x.contiguous(memory_format=torch.channels_last)
    for a, b in zip(
        conv_to_second_order(conv3x3, cl, weight, groups),
        conv_to_second_order(plain_conv, cl, weight, groups),
        strict=True,
    ):
        assert torch.equal(a, b)


def test_conv3x3_under_torch_func_grad_inside_autograd():
    """The inner loop's pattern: torch.func.grad of a loss of the weights, differentiated
    again by autograd (second-order MAML)."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(5, 2, 8, 8, generator=g, dtype=torch.float64)
    weight = torch.randn(4, 2, 3, 3, generator=g, dtype=torch.float64)

    def meta(conv):
        w = weight.clone().requires_grad_()
        inner = torch.func.grad(lambda v: conv(x, v).tanh().pow(2).sum())(w)
        adapted = w - 0.1 * inner
        (meta_grad,) = torch.autograd.grad(conv(x, adapted).sin().sum(), w)
        return inner.detach(), meta_grad

    for a, b in zip(meta(conv3x3), meta(plain_conv), strict=True):
        assert torch.equal(a, b)


def test_conv3x3_second_order_gradient_against_finite_differences():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 2, 5, 5, generator=g, dtype=torch.float64)
    weight = torch.randn(3, 2, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w: conv3x3(x, w), (weight,))
    assert torch.autograd.gradgradcheck(lambda w: conv3x3(x, w).pow(2), (weight,))


def transposed_convolutions(fn) -> int:
    """How many transposed convolutions ``fn`` runs (profiler events of ``_convolution``
    with ``transposed=True``)."""
    with profile(record_shapes=True) as prof:
        fn()
    return sum(
        1
        for e in prof.events()
        if e.name == "aten::_convolution" and e.concrete_inputs and e.concrete_inputs[6] is True
    )


def test_conv3x3_skips_the_images_gradient_only_where_nothing_needs_it():
    x = torch.rand(2, 3, 8, 8)
    weight = torch.randn(4, 3, 3, 3)
    assert transposed_convolutions(lambda: conv_to_second_order(plain_conv, x, weight, 1)) == 1
    assert transposed_convolutions(lambda: conv_to_second_order(conv3x3, x, weight, 1)) == 0
    # Where x needs its gradient (an inner layer), conv3x3 is conv2d and gives it.
    leaf = x.clone().requires_grad_()
    assert not skips_input_gradient(leaf)
    (dx,) = torch.autograd.grad(conv3x3(leaf, weight).sum(), leaf)
    (ref_dx,) = torch.autograd.grad(plain_conv(leaf, weight).sum(), leaf)
    assert torch.equal(dx, ref_dx)
    assert not torch.func.vmap(lambda z: torch.tensor(skips_input_gradient(z)))(x[None])


def tie_heavy_batch(channels: int, size: int, dtype: torch.dtype, tasks: int = 2) -> TaskBatch:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(3)

    def images(n):  # binary glyph-like images: ties in every constant region
        return (torch.rand(tasks, n, channels, size, size, generator=g) > 0.6).to(dtype)

    return TaskBatch(
        images(3), labels.repeat(tasks, 1), images(6), labels.repeat(2).repeat(tasks, 1)
    )


def meta_gradient(method, batched, dtype, channels, size, channels_last) -> list[torch.Tensor]:
    learner = MetaLearner(
        Conv4Config(ways=3, in_channels=channels, image_size=size, filters=4),
        MetaConfig(method=method, inner_steps_train=2),
    )
    learner.channels_last_query = channels_last
    params = {k: v.to(dtype).requires_grad_() for k, v in learner.init_params(0).items()}
    batch = tie_heavy_batch(channels, size, dtype)
    loss, _ = learner.meta_batch_loss(params, batch, batched=batched)
    loss.backward()
    return [loss.detach(), *(p.grad for p in params.values())]


@pytest.mark.parametrize(
    ("method", "batched", "dtype", "channels_last"),
    [
        ("maml", False, torch.float64, False),
        ("cxgrad", False, torch.float64, False),
        ("maml", True, torch.float32, True),
        ("cxgrad", True, torch.float32, False),
        ("cxgrad", False, torch.float32, True),
        ("anil", True, torch.float64, False),
    ],
)
def test_meta_gradient_unchanged_to_the_bit(monkeypatch, method, batched, dtype, channels_last):
    """Conv4 with both shortcuts against Conv4 with the plain operations: the same
    meta-loss and meta-gradient, to the bit (an odd image size, RGB)."""
    args = (method, batched, dtype, 3, 19, channels_last)
    ours = meta_gradient(*args)
    monkeypatch.setattr(conv4, "conv3x3", plain_conv)
    monkeypatch.setattr(conv4, "max_pool2x2", lambda h: F.max_pool2d(h, 2))
    ref = meta_gradient(*args)
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)
