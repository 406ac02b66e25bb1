"""Conv4's max-pooling on a CPU changes no bit: ``max_pool2x2`` (the NCHW max-pool's
indices from the channels-last kernel, the values gathered) against ``F.max_pool2d``:
values, gradients and second-order gradients equal to the bit, ties, infinities, NaN and
odd sizes included, and the whole meta-gradient of MAML, CxGrad and ANIL on both paths;
and it takes its shortcut where it should and only there."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import cxgrad.models.conv4 as conv4
from cxgrad.data.episodes import TaskBatch
from cxgrad.meta import MetaConfig, MetaLearner
from cxgrad.models import Conv4Config
from cxgrad.models._pooling import gathers_on, max_pool2x2


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
    """Conv4 with ``max_pool2x2`` against Conv4 with ``F.max_pool2d``: the same meta-loss
    and meta-gradient, to the bit (an odd image size, RGB, binary images full of ties)."""
    args = (method, batched, dtype, 3, 19, channels_last)
    ours = meta_gradient(*args)
    monkeypatch.setattr(conv4, "max_pool2x2", lambda h: F.max_pool2d(h, 2))
    ref = meta_gradient(*args)
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)
