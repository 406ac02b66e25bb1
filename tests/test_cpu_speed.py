"""The CPU speed-ups change no function: what each one guarantees, checked.

* pooling before the activation is the same function with the same first and second
  derivatives, to the bit (ties included);
* the channels-last query pass, task by task and batched, changes float32 rounding only,
  and leaves float64 and the gradients' layout as they were;
* ``auto`` picks the batched path on a CPU only for small images on a backbone that folds
  tasks; the allocator setting is idempotent.
"""

from __future__ import annotations

import sys

import pytest
import torch
import torch.nn.functional as F
from helpers import tiny_learner, tiny_run_config

from cxgrad.data.episodes import TaskBatch
from cxgrad.meta._layout import _ContiguousGrad, channels_last_query, folds_channels_last
from cxgrad.meta.execution import (
    CPU_BATCHED_MAX_IMAGE_SIDE,
    use_batched_path,
    uses_channels_last_query,
)
from cxgrad.models import Conv4Config, ResNet12Config
from cxgrad.models.conv4 import conv4_forward, conv4_forward_tasks, init_conv4
from cxgrad.training import Trainer
from cxgrad.training._cpu_memory import configure_cpu


def activation_then_pool(params, x, config: Conv4Config) -> torch.Tensor:
    """Conv4 in the paper's order (activation, then pool): the reference."""
    h = x
    for layer in range(1, config.layers + 1):
        h = F.conv2d(h, params[f"conv{layer}.weight"], padding=1)
        h = F.batch_norm(
            h,
            None,
            None,
            params[f"bn{layer}.weight"],
            params[f"bn{layer}.bias"],
            training=True,
            eps=config.bn_eps,
        )
        h = F.leaky_relu(h, 0.01) if config.activation == "leaky_relu" else F.relu(h)
        h = F.max_pool2d(h, 2)
    return F.linear(h.flatten(1), params["head.weight"], params["head.bias"])


def images_with_ties(n: int = 6, size: int = 16) -> torch.Tensor:
    """Glyph-like images: constant 2x2 blocks (ties in every pooling window of the first
    layer's constant regions) plus a few strokes."""
    g = torch.Generator().manual_seed(0)
    blocks = (torch.rand(n, 1, size // 2, size // 2, generator=g) > 0.7).float()
    return blocks.repeat_interleave(2, -1).repeat_interleave(2, -2)


def value_grad_and_second_order(forward, params, x):
    """Loss, its gradient and a second-order term (grad of the gradient's squared norm)."""
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    loss = forward(leaves, x).logsumexp(-1).mean()
    grads = torch.autograd.grad(loss, list(leaves.values()), create_graph=True)
    penalty = sum((g**2).sum() for g in grads)
    second = torch.autograd.grad(penalty, list(leaves.values()))
    return [loss.detach(), *[g.detach() for g in grads], *second]


@pytest.mark.parametrize("activation", ["leaky_relu", "relu"])
def test_pool_before_activation_is_bit_identical(activation):
    config = Conv4Config(ways=3, image_size=16, filters=4, activation=activation)
    params = init_conv4(config, torch.Generator().manual_seed(1))
    x = images_with_ties()
    ours = value_grad_and_second_order(lambda p, z: conv4_forward(p, z, config), params, x)
    ref = value_grad_and_second_order(lambda p, z: activation_then_pool(p, z, config), params, x)
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)
    # The folded path (B tasks as grouped convolutions, each task with its own BatchNorm
    # statistics) also pools first, in place: the same logits up to the grouped
    # convolution's rounding.
    folded = conv4_forward_tasks(params, x.view(2, 3, *x.shape[1:]), config)
    per_task = torch.stack(
        [conv4_forward(params, half, config) for half in x.view(2, 3, 1, 16, 16)]
    )
    torch.testing.assert_close(folded, per_task, rtol=1e-5, atol=1e-5)


def test_resnet12_pool_before_activation_is_bit_identical():
    config = ResNet12Config(ways=3, image_size=16, channels=2)
    params = config.init(torch.Generator().manual_seed(0))
    x = images_with_ties().repeat(1, 3, 1, 1)

    def reference(p, z):
        h = z
        for b in range(1, config.blocks + 1):
            inner = h
            for c in (1, 2, 3):
                conv = F.conv2d(inner, p[f"block{b}.conv{c}.weight"], padding=1)
                inner = config._bn(p, conv, f"block{b}.bn{c}")
                if c < 3:
                    inner = config._act(inner)
            skip = config._bn(p, F.conv2d(h, p[f"block{b}.skip.weight"]), f"block{b}.skip_bn")
            h = F.max_pool2d(config._act(inner + skip), 2)
        return F.linear(h.mean(dim=(2, 3)), p["head.weight"], p["head.bias"])

    ours = value_grad_and_second_order(config.forward, params, x)
    ref = value_grad_and_second_order(reference, params, x)
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)


def meta_loss_and_grads(learner, params, batch):
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    xs, ys, xq, yq = batch
    loss, _ = learner.task_loss(leaves, xs, ys, xq, yq)
    return loss.detach(), dict(
        zip(leaves, torch.autograd.grad(loss, list(leaves.values())), strict=True)
    )


def one_task(dtype=torch.float32, size: int = 16):
    g = torch.Generator().manual_seed(0)
    ys = torch.arange(3).repeat_interleave(2)
    return (
        torch.rand(6, 1, size, size, generator=g, dtype=dtype),
        ys,
        torch.rand(6, 1, size, size, generator=g, dtype=dtype),
        ys,
    )


def assert_rounding_only(fast, plain) -> None:
    """``(loss, {name: gradient})`` of a fast path equal to the reference path's up to
    float32 rounding: the loss to 1e-5, each gradient to 1e-3 of its largest entry."""
    torch.testing.assert_close(fast[0], plain[0], rtol=1e-5, atol=1e-6)
    for name, expected in plain[1].items():
        scale = float(expected.abs().max())
        error = float((fast[1][name] - expected).abs().max())
        assert error <= 1e-3 * scale + 1e-7, f"{name}: error {error:.3g}, largest {scale:.3g}"


@pytest.mark.parametrize("method", ["maml", "cxgrad"])
def test_channels_last_query_changes_rounding_only(method):
    learner = tiny_learner(method)
    learner.channels_last_query = True
    params = learner.init_params(0)
    batch = one_task()
    fast = meta_loss_and_grads(learner, params, batch)
    learner.channels_last_query = False
    plain = meta_loss_and_grads(learner, params, batch)
    assert_rounding_only(fast, plain)


def test_channels_last_query_only_where_it_pays():
    params = {"conv1.weight": torch.ones(2, 1, 3, 3), "head.bias": torch.zeros(2)}
    x = torch.rand(4, 1, 8, 8)
    out, fast = channels_last_query(x, params)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert fast["head.bias"] is params["head.bias"]  # only conv weights are wrapped
    double = x.double()  # float64: the parity tests' arithmetic stays as it is
    same, same_params = channels_last_query(double, params)
    assert same is double and same_params is params


def test_batched_query_folds_into_a_channels_last_view():
    """B tasks' images are stored so that conv4_forward_tasks's fold of tasks into channels
    is a channels-last view of them: the same values, no copy."""
    x = torch.rand(3, 4, 2, 8, 8)
    stored = folds_channels_last(x)
    assert torch.equal(stored, x)
    folded = stored.transpose(0, 1).reshape(4, 3 * 2, 8, 8)
    assert folded.data_ptr() == stored.data_ptr()
    assert folded.is_contiguous(memory_format=torch.channels_last)
    per_task = {"conv1.weight": torch.ones(3, 5, 2, 3, 3), "head.bias": torch.zeros(3, 5)}
    out, fast = channels_last_query(x, per_task)
    assert torch.equal(out, x) and fast["head.bias"] is per_task["head.bias"]
    grad = torch.randn(3, 2, 5, 3, 3).transpose(1, 2)  # any non-standard layout
    leaf = per_task["conv1.weight"].requires_grad_()
    _, fast = channels_last_query(x, per_task)
    (back,) = torch.autograd.grad(fast["conv1.weight"], leaf, grad)
    assert back.is_contiguous() and torch.equal(back, grad)


@pytest.mark.parametrize("method", ["maml", "cxgrad"])
def test_batched_channels_last_query_changes_rounding_only(method):
    """The batched path with its query pass channels-last: the same meta-loss and
    meta-gradient as without, up to float32 rounding."""
    learner = tiny_learner(method)
    params = learner.init_params(0)
    g = torch.Generator().manual_seed(0)
    ys = torch.arange(3).repeat_interleave(2).repeat(4, 1)
    batch = TaskBatch(
        torch.rand(4, 6, 1, 16, 16, generator=g), ys, torch.rand(4, 6, 1, 16, 16, generator=g), ys
    )
    results = {}
    for channels_last in (True, False):
        learner.channels_last_query = channels_last
        leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
        loss, _ = learner.meta_batch_loss(leaves, batch, batched=True)
        grads = torch.autograd.grad(loss, list(leaves.values()))
        results[channels_last] = loss.detach(), dict(zip(leaves, grads, strict=True))
    assert_rounding_only(results[True], results[False])


def test_gradients_reach_the_inner_loop_in_the_standard_layout():
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    grad = torch.randn(4, 3, 3, 3).contiguous(memory_format=torch.channels_last)
    (back,) = torch.autograd.grad(_ContiguousGrad.apply(w), w, grad)
    assert back.is_contiguous() and torch.equal(back, grad)


def test_cpu_path_choice():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    small = Conv4Config(image_size=28)
    large = Conv4Config(image_size=84, in_channels=3, filters=48)
    # auto keeps the arithmetic of record on a CPU: the task loop, NCHW.
    assert not use_batched_path("auto", cpu, small)
    assert not uses_channels_last_query("auto", cpu)
    # fastest: batched for small images on a backbone that folds tasks, else the loop with
    # a channels-last query pass.
    assert use_batched_path("fastest", cpu, small)
    assert use_batched_path("fastest", cpu, Conv4Config(image_size=CPU_BATCHED_MAX_IMAGE_SIDE))
    assert not use_batched_path("fastest", cpu, large)
    assert not use_batched_path("fastest", cpu, ResNet12Config(image_size=28))  # vmap: slower
    assert not use_batched_path("fastest", cpu)  # no backbone given: the task loop
    assert uses_channels_last_query("fastest", cpu)
    assert use_batched_path("fastest", cuda) and not uses_channels_last_query("fastest", cuda)
    assert not use_batched_path("sequential", cpu, small)
    assert use_batched_path("batched", cpu, large)


def test_fastest_path_trains_the_same_function(tmp_path):
    """One iteration of a tiny run on each CPU path: the same loss up to float32 rounding."""
    losses = {}
    for path in ("auto", "fastest"):
        trainer = Trainer(tiny_run_config(), tmp_path / path, progress=False, path=path)
        assert trainer.learner.channels_last_query == (path == "fastest")
        losses[path] = trainer.step()[0]
    assert losses["auto"] == pytest.approx(losses["fastest"], rel=1e-5)


def test_configure_cpu_is_idempotent():
    first = configure_cpu()
    assert configure_cpu() == first
    if sys.platform.startswith("linux"):
        assert first.startswith("glibc malloc keeps freed memory")
