"""ResNet-12 (appendix B): shapes, which layers CxGrad scales, BN invariance, a meta-step."""

from __future__ import annotations

import pytest
import torch
from helpers import NO_EPS

from cxgrad.meta import InnerTrace, MetaConfig, MetaLearner, gphi, implicit_gradient_scaling
from cxgrad.models import ResNet12Config
from cxgrad.runs import build_config


def small(bn_eps=1e-5) -> ResNet12Config:
    return ResNet12Config(ways=3, in_channels=3, image_size=16, channels=2, bn_eps=bn_eps)


def images(n=6, size=16, seed=0, dtype=torch.float64):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_paper_sized_shapes():
    model = ResNet12Config(ways=5)
    params = model.init(torch.Generator().manual_seed(0))
    assert model.widths == [64, 128, 256, 512]
    feats = model.features(params, torch.rand(2, 3, 84, 84))
    assert [tuple(f.shape[1:]) for f in feats] == [
        (64, 42, 42),
        (128, 21, 21),
        (256, 10, 10),
        (512, 5, 5),
    ]
    assert model.forward(params, torch.rand(2, 3, 84, 84)).shape == (2, 5)
    assert params["block1.skip.weight"].shape == (64, 3, 1, 1)


def test_scaled_and_unscaled_layers():
    model = small()
    scaled = model.scaled_names()
    assert len(scaled) == 12
    assert all(".conv" in n for n in scaled)
    assert not any("skip" in n for n in scaled)
    assert set(model.body_names()) - set(scaled) == {f"block{b}.skip.weight" for b in (1, 2, 3, 4)}
    learner = MetaLearner(model, MetaConfig(method="cxgrad", context_dim=6, context_hidden=5))
    assert learner.init_params(0)["gphi.2.weight"].shape == (12, 5)  # one gamma per scaled conv


@pytest.mark.parametrize(
    "name",
    ["block1.conv1.weight", "block2.conv3.weight", "block4.conv2.weight", "block3.skip.weight"],
)
def test_batchnorm_invariance_on_every_conv(name):
    model = small(bn_eps=NO_EPS)
    params = {k: v.double() for k, v in model.init(torch.Generator().manual_seed(0)).items()}
    x = images()
    scaled = dict(params, **{name: 7.5 * params[name]})
    torch.testing.assert_close(model.forward(scaled, x), model.forward(params, x))


def test_igs_on_resnet12_leaves_the_forward_unchanged():
    model = small(bn_eps=NO_EPS)
    learner = MetaLearner(model, MetaConfig(method="cxgrad", context_dim=6, context_hidden=5))
    params = {k: v.double() for k, v in learner.init_params(0).items()}
    nu = torch.randn(6, dtype=torch.float64)
    scaled = implicit_gradient_scaling(params, model.scaled_names(), gphi(params, nu))
    x = images()
    torch.testing.assert_close(model.forward(dict(params, **scaled), x), model.forward(params, x))


def test_one_cxgrad_meta_step_on_resnet12():
    model = ResNet12Config(ways=3, in_channels=3, image_size=16, channels=4)
    learner = MetaLearner(
        model, MetaConfig(method="cxgrad", inner_steps_train=2, context_dim=8, context_hidden=8)
    )
    params = {k: v.requires_grad_() for k, v in learner.init_params(0).items()}
    x_s, x_q = images(3, dtype=torch.float32), images(6, seed=1, dtype=torch.float32)
    y_s, y_q = torch.arange(3), torch.arange(3).repeat_interleave(2)
    trace = InnerTrace()
    learner.adapt(params, x_s, y_s, 2, first_order=True, trace=trace)
    assert len(trace.gammas[0]) == 12 and trace.context_updates == 3
    assert "block1.skip.weight" in trace.grad_norms[0]  # skip convs adapt, unscaled
    before = {k: v.detach().clone() for k, v in params.items()}
    optimizer = torch.optim.Adam(params.values(), lr=1e-3)
    loss, _ = learner.task_loss(params, x_s, y_s, x_q, y_q, training=True)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert all(
        not torch.equal(before[k], params[k])
        for k in ("gphi.0.bias", "block4.conv3.weight", "head.weight")
    )


def test_resnet12_meta_gradient_matches_finite_differences():
    model = ResNet12Config(ways=2, in_channels=3, image_size=16, channels=2)
    learner = MetaLearner(model, MetaConfig(method="maml", inner_steps_train=1, inner_lr=0.1))
    params = {k: v.double() for k, v in learner.init_params(0).items()}
    x_s, x_q = images(2), images(4, seed=1)
    y_s, y_q = torch.arange(2), torch.arange(2).repeat_interleave(2)

    def loss_fn(p):
        return learner.task_loss(p, x_s, y_s, x_q, y_q, training=True)[0]

    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    grads = torch.autograd.grad(loss_fn(leaves), list(leaves.values()))
    g = torch.Generator().manual_seed(0)
    direction = {
        k: torch.randn(v.shape, generator=g, dtype=torch.float64) for k, v in params.items()
    }
    eps = 1e-6
    analytic = sum(float((g * direction[k]).sum()) for g, k in zip(grads, params, strict=True))
    plus = {k: v + eps * direction[k] for k, v in params.items()}
    minus = {k: v - eps * direction[k] for k, v in params.items()}
    numeric = (float(loss_fn(plus)) - float(loss_fn(minus))) / (2 * eps)
    assert analytic == pytest.approx(numeric, rel=1e-5)


@pytest.mark.parametrize("name", ["miniimagenet-5w1s-resnet12", "tieredimagenet-5w5s-resnet12"])
def test_resnet12_presets_build(name):
    config = build_config(name)
    model = config.model_config()
    assert isinstance(model, ResNet12Config) and model.channels == 64
