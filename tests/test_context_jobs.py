"""Controls that give CxGrad's context a job: a BatchNorm eps the support loss can see
(``--bn-eps``) and a head gain made from the context (``--context-gain head``).

In the paper's CxGrad the support loss sees the context only through BatchNorm's eps
(chapter 12). Meta-gradients of both variants are checked in float64 against central finite
differences, the head gain's inner loop against a reference written with ``torch.autograd``,
and the context's gradient for what each variant changes.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from helpers import (
    CONVS,
    SMALL,
    assert_float64_parity,
    directional_check,
    double_params,
    query_loss_from_context,
    run_cli,
    task_batch,
    tiny_learner,
    tiny_run_config,
    tiny_task,
)

from cxgrad.analysis.context import HEAD_GAIN, context_dependence, context_gradient
from cxgrad.analysis.landscape import landscape_measures
from cxgrad.data import EpisodeSampler, load_synthetic
from cxgrad.errors import ConfigError
from cxgrad.meta import InnerTrace, MetaConfig, MetaLearner, gphi, head_gain
from cxgrad.meta.context import HEAD_GAIN_NAMES
from cxgrad.models import ResNet12Config
from cxgrad.records import CONFIGURATIONS, CONTEXT_JOBS, record_config
from cxgrad.runs import RunDir, TrainConfig, build_config, load_checkpoint
from cxgrad.training import train

HEAD = ["head.weight", "head.bias"]


def gain_learner(**meta) -> MetaLearner:
    return tiny_learner("cxgrad", context_gain="head", **meta)


# --------------------------------------------------------------------------- references
def igs(params, fast, nu):
    """Conv l becomes gamma_l w_l / ||w_l|| (Eq. 6), gamma = g_phi(nu)."""
    gammas = gphi(params, nu)
    return {
        name: gammas[layer] * fast[name] / fast[name].norm() for layer, name in enumerate(CONVS)
    }


def gained_loss(learner, params, weights, nu, x, y):
    """The support loss with the conv weights and head in ``weights`` as they are and the
    logits ``W (tau f) + b``, tau = head_gain(nu), written out by hand."""
    features = learner.model.features({**params, **weights}, x)[-1].flatten(1)
    logits = F.linear(
        head_gain(params, nu) * features, weights["head.weight"], weights["head.bias"]
    )
    return F.cross_entropy(logits, y)


def support_loss_of_nu(learner, params, fast, nu, x, y):
    return gained_loss(learner, params, {**fast, **igs(params, fast, nu)}, nu, x, y)


def reference_gain_adapt(learner, params, x, y, steps, nu):
    """Algorithm 1's inner loop from a given context nu, with torch.autograd: at each step
    the gradient of the support loss with respect to the rescaled conv weights, the head and
    (through IGS and the gain) nu; the query then sees the head gain of the last context."""
    alpha, beta = learner.meta.inner_lr, learner.meta.context_lr
    fast = {k: params[k].clone().requires_grad_() for k in CONVS + HEAD}
    for _ in range(steps):
        current = {**fast, **igs(params, fast, nu)}
        loss = gained_loss(learner, params, current, nu, x, y)
        names = list(current)
        grads = torch.autograd.grad(loss, [current[k] for k in names] + [nu], create_graph=True)
        fast = {k: current[k] - alpha * g for k, g in zip(names, grads, strict=False)}
        nu = nu - beta * grads[-1]
    return fast, nu


def warm_up_nu(learner, params, x, y):
    """nu after the warm-up step (Algorithm 1 line 10), through IGS and the head gain."""
    nu = torch.zeros(learner.meta.context_dim, dtype=torch.float64, requires_grad=True)
    fast = {k: params[k] for k in CONVS + HEAD}
    (g,) = torch.autograd.grad(support_loss_of_nu(learner, params, fast, nu, x, y), nu)
    return (nu - learner.meta.context_lr * g).detach()


# --------------------------------------------------------------------------- meta-gradients
def test_head_gain_meta_gradient_matches_finite_differences():
    """As for CxGrad: the warm-up's nu carries no graph, so the reference holds it fixed."""
    learner = gain_learner()
    params = double_params(learner)
    x_s, y_s, x_q, y_q = tiny_task()
    nu1 = warm_up_nu(learner, params, x_s, y_s)

    loss_with_fixed_nu = query_loss_from_context(learner, nu1, x_s, y_s, x_q, y_q)

    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    real = learner.task_loss(leaves, x_s, y_s, x_q, y_q, training=True)[0]
    assert float(real.detach()) == pytest.approx(float(loss_with_fixed_nu(params)), rel=1e-12)
    directional_check(loss_with_fixed_nu, params, sorted(params))
    directional_check(loss_with_fixed_nu, params, list(HEAD_GAIN_NAMES), seed=1)
    grads = dict(zip(params, torch.autograd.grad(real, list(leaves.values())), strict=True))
    assert all(float(grads[k].abs().sum()) > 0 for k in params if k.startswith("gphi"))


@pytest.mark.parametrize(
    ("bn_eps", "gain"), [(1e-5, "head"), (1e-2, "none")], ids=["head-gain", "eps0.01"]
)
def test_frozen_context_meta_gradient_matches_finite_differences(bn_eps, gain):
    """With beta = 0 no warm-up runs, so the real function is checked, nu held nowhere."""
    learner = tiny_learner("cxgrad", bn_eps=bn_eps, context_gain=gain, context_lr=0.0)
    x_s, y_s, x_q, y_q = tiny_task()
    directional_check(
        lambda p: learner.task_loss(p, x_s, y_s, x_q, y_q, training=True)[0],
        double_params(learner),
        sorted(double_params(learner)),
    )


@pytest.mark.parametrize("bn_eps", [1e-3, 1e-2, 1e-1])
def test_larger_bn_eps_meta_gradient_matches_finite_differences(bn_eps):
    learner = tiny_learner("cxgrad", bn_eps=bn_eps)
    params = double_params(learner)
    x_s, y_s, x_q, y_q = tiny_task()
    nu1 = context_step(learner, params, x_s, y_s)

    loss_with_fixed_nu = query_loss_from_context(learner, nu1, x_s, y_s, x_q, y_q)

    real = learner.task_loss(params, x_s, y_s, x_q, y_q, training=True)[0]
    assert float(real) == pytest.approx(float(loss_with_fixed_nu(params)), rel=1e-12)
    # A smaller probe than CxGrad's: with eps = 1e-2 a max-pool's choice or a LeakyReLU's
    # sign flips within 1e-5 of this point along one of the directions (measured: central
    # differences of -441 at 1e-5, -1.35532407 at 1e-7 against autograd's -1.35532408).
    directional_check(loss_with_fixed_nu, params, sorted(params), eps=1e-7)


def context_step(learner, params, x, y):
    """nu after the learner's own warm-up step, read from its trace."""
    record = InnerTrace()
    learner.adapt(params, x, y, 1, first_order=True, trace=record)
    return torch.tensor(record.contexts[0], dtype=torch.float64)


# --------------------------------------------------------------------------- the inner loop
def test_head_gain_inner_loop_is_the_reference():
    """Every inner step moves the rescaled weights, the head and nu by the gradient of one
    loss; the adapted head is tau W with the last context, so forward() is the adapted model."""
    learner = gain_learner(inner_steps_train=3)
    params = double_params(learner)
    x_s, y_s, x_q, y_q = tiny_task()
    nu1 = warm_up_nu(learner, params, x_s, y_s)
    fast = learner.adapt(params, x_s, y_s, 3, first_order=False, initial_context=nu1)
    ref_fast, ref_nu = reference_gain_adapt(
        learner, params, x_s, y_s, 3, nu1.clone().requires_grad_()
    )
    for name in CONVS + ["head.bias"]:
        torch.testing.assert_close(fast[name], ref_fast[name], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(
        fast["head.weight"], head_gain(params, ref_nu) * ref_fast["head.weight"]
    )
    # and the real warm-up computes the same nu1 as the reference
    torch.testing.assert_close(context_step(learner, params, x_s, y_s), nu1)


def test_head_gain_is_recorded_and_moves_with_the_context():
    learner = gain_learner(inner_steps_eval=3)
    params = double_params(learner)
    x_s, y_s, _, _ = tiny_task()
    record = InnerTrace()
    learner.adapt(params, x_s, y_s, 3, first_order=True, trace=record)
    assert len(record.head_gains) == len(record.gammas) == 3
    assert len(set(record.head_gains)) == 3  # a new context, a new gain, at every step
    plain = InnerTrace()
    tiny_learner("cxgrad", inner_steps_eval=3).adapt(
        double_params(learner), x_s, y_s, 3, True, plain
    )
    assert plain.head_gains == []


@pytest.mark.parametrize("first_order", [False, True], ids=["second-order", "first-order"])
def test_head_gain_sequential_and_batched_paths_agree_in_float64(first_order):
    learner = gain_learner(first_order=first_order)
    params = double_params(learner)
    batch = task_batch(torch.float64)
    assert_float64_parity(learner, params, batch, same_accuracy=False)
    args = (params, batch.x_support, batch.y_support, batch.x_query)
    torch.testing.assert_close(
        learner.predict_batch(*args, batched=True), learner.predict_batch(*args, batched=False)
    )


def test_head_gain_on_resnet12_vmap_parity():
    model = ResNet12Config(ways=3, in_channels=1, image_size=16, channels=2)
    meta = MetaConfig(
        method="cxgrad", context_gain="head", inner_steps_train=2, context_dim=6, context_hidden=5
    )
    learner = MetaLearner(model, meta)
    params = double_params(learner)
    batch = task_batch(torch.float64, tasks=2, shots=1, queries=1)
    assert_float64_parity(learner, params, batch, same_accuracy=False)


# --------------------------------------------------------------------------- the context's gradient
def test_head_gain_gives_the_context_a_gradient_beyond_eps():
    """The gammas' gradients still exist only through eps; the head gain's does not, and
    it carries grad_nu L."""
    learner = gain_learner()
    params = double_params(learner)
    x_s, y_s, _, _ = tiny_task()
    parts = context_gradient(learner, params, x_s, y_s)
    assert parts["factors"] == CONVS + ["head gain"]
    shares = parts["factor_eps_share"]
    assert (shares[:4] > 1 - 1e-6).all()
    assert shares[4] < 1e-2
    assert parts["eps_share"] < 1e-2
    assert parts["grad_nu_norm_no_eps"] > 0.99 * parts["grad_nu_norm"]
    # the context's first step moves the gain and, through g_phi, every gamma far more
    # than the paper's CxGrad moves them
    plain = tiny_learner("cxgrad")
    moved = context_gradient(plain, double_params(plain), x_s, y_s)["factor_move"]
    assert (parts["factor_move"][:4] > 10 * moved).all()


def test_context_gradient_of_the_head_gain_matches_finite_differences():
    learner = gain_learner()
    params = double_params(learner)
    x_s, y_s, _, _ = tiny_task()
    parts = context_gradient(learner, params, x_s, y_s)
    fast = {k: params[k] for k in CONVS + HEAD}
    zero = torch.zeros(learner.meta.context_dim, dtype=torch.float64)
    direction = torch.randn(zero.shape, generator=torch.Generator().manual_seed(0)).double()
    eps = 1e-6

    def loss(nu):
        return float(support_loss_of_nu(learner, params, fast, nu, x_s, y_s))

    numeric = (loss(zero + eps * direction) - loss(zero - eps * direction)) / (2 * eps)
    nu1 = warm_up_nu(learner, params, x_s, y_s)  # -beta * grad_nu with beta = 1
    assert float((-nu1 * direction).sum()) == pytest.approx(numeric, rel=1e-6)
    assert float(nu1.norm()) == pytest.approx(parts["grad_nu_norm"], rel=1e-9)


def test_a_larger_bn_eps_gives_a_larger_context_gradient_still_through_eps():
    """eps = 1e-2 is of the order of gamma^2 times these batch variances: the loss sees
    gamma, by eps alone (the share through eps stays 1), but far more than with 1e-5."""
    x_s, y_s, _, _ = tiny_task()
    norms = {}
    for bn_eps in (1e-5, 1e-2):
        learner = tiny_learner("cxgrad", bn_eps=bn_eps)
        parts = context_gradient(learner, double_params(learner), x_s, y_s)
        assert parts["eps_share"] == pytest.approx(1.0, abs=1e-6)
        norms[bn_eps] = parts["grad_nu_norm"]
    assert norms[1e-2] > 10 * norms[1e-5]


def test_context_dependence_reads_the_head_gain_variant():
    glyphs = load_synthetic(num_classes=(6, 6, 6), images_per_class=4, image_size=16)
    learner = gain_learner(inner_steps_eval=2)
    sampler = EpisodeSampler(glyphs.split("test"), 3, 1, 1, seed=0, split_name="test")
    params = learner.init_params(0)
    report = context_dependence(learner, params, sampler, tasks=3)
    # the four scaled convs' gammas, then the head gain, as one more factor
    assert report.gammas.shape == (3, 2, 5) and report.layers[-1] == HEAD_GAIN
    assert (report.context_norms > 0).all()
    zero = torch.zeros(learner.meta.context_dim)
    assert report.gamma_at_zero[-1] == pytest.approx(float(head_gain(params, zero)))
    assert report.relative_spread()[-1] > 0  # the head gain moves from task to task


def test_the_landscape_refuses_a_context_it_cannot_see():
    learner = gain_learner()
    x_s, y_s, _, _ = tiny_task()
    with pytest.raises(ConfigError, match="--context-gain none"):
        landscape_measures(learner, double_params(learner), x_s, y_s)


# --------------------------------------------------------------------------- defaults
def test_the_defaults_are_the_papers():
    config = TrainConfig()
    assert (config.bn_eps, config.context_gain) == (1e-5, "none")
    assert config.model_config().bn_eps == 1e-5
    assert MetaConfig().context_gain == "none"
    assert not any(k.startswith("gphi.gain") for k in tiny_learner("cxgrad").init_params(0))


def test_the_head_gain_adds_to_cxgrads_initialization():
    """Drawn last: the same seed gives plain CxGrad's theta and phi, so the two pair up."""
    plain = tiny_learner("cxgrad").init_params(4)
    gained = gain_learner().init_params(4)
    assert set(gained) - set(plain) == set(HEAD_GAIN_NAMES)
    for name in plain:
        assert torch.equal(plain[name], gained[name]), name
    assert gained["gphi.gain.weight"].shape == (1, 5)  # one output unit on the hidden layer


@pytest.mark.parametrize("backbone", ["conv4", "resnet12"])
def test_bn_eps_reaches_the_backbone(backbone):
    config = build_config(dataset="synthetic", backbone=backbone, bn_eps=1e-2)
    assert config.model_config().bn_eps == 1e-2


# --------------------------------------------------------------------------- options
@pytest.mark.parametrize("value", [0.0, -1e-3, math.nan, math.inf])
def test_a_bad_bn_eps_is_refused_with_the_fix(value):
    with pytest.raises(ConfigError, match=r"--bn-eps must be a finite number > 0.*1e-30"):
        TrainConfig(dataset="synthetic", bn_eps=value)


def test_a_head_gain_without_a_context_is_refused():
    with pytest.raises(ConfigError, match="--context-gain head is CxGrad's.*--method cxgrad"):
        TrainConfig(dataset="synthetic", method="maml", context_gain="head")
    with pytest.raises(ConfigError, match="unknown context gain 'tail'; choose one of none, head"):
        MetaConfig(method="cxgrad", context_gain="tail")


def test_the_options_are_in_the_help(capsys):
    with pytest.raises(SystemExit):
        run_cli(capsys, "train", "--help")
    out = capsys.readouterr().out
    assert "--bn-eps BN_EPS" in out and "(default: 1e-05)" in out
    assert "--context-gain {none,head}" in out and "(default: none)" in out


@pytest.mark.integration
def test_train_evaluate_and_resume_a_head_gain_run(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["--dataset", "synthetic", "--context-gain", "head", "--bn-eps", "1e-2", *SMALL]
    code, _, _ = run_cli(capsys, "train", "--iterations", 2, "--out", run, *args)
    assert code == 0
    saved = json.loads((run / "config.json").read_text())
    assert (saved["context_gain"], saved["bn_eps"]) == ("head", 1e-2)
    state = load_checkpoint(run / "checkpoints" / "last.pt", TrainConfig.load(run / "config.json"))
    assert set(HEAD_GAIN_NAMES) <= set(state["params"])
    code, _, _ = run_cli(capsys, "train", "--out", run, "--resume", "--iterations", 4)
    assert code == 0 and RunDir(run).read_metrics()[-1]["iteration"] == 4
    code, out, _ = run_cli(capsys, "evaluate", "--run", run, "--tasks", 3, "--json")
    assert code == 0 and 0 <= json.loads(out)["accuracy"] <= 1
    # the network depends on both options: a checkpoint loads only where they match
    config = TrainConfig.load(run / "config.json")
    for change in ({"context_gain": "none"}, {"bn_eps": 1e-5}):
        with pytest.raises(ConfigError, match=next(iter(change))):
            load_checkpoint(run / "checkpoints" / "last.pt", config.replace(**change))


def test_a_large_bn_eps_trains(tmp_path):
    train(tiny_run_config(bn_eps=0.1), tmp_path / "run", progress=False)
    losses = [r["loss"] for r in RunDir(tmp_path / "run").read_metrics() if "loss" in r]
    assert len(losses) == 6 and all(math.isfinite(v) for v in losses)


# --------------------------------------------------------------------------- records
def test_each_variant_has_records_with_a_frozen_twin_on_both_polarities():
    for key in CONTEXT_JOBS:
        for suffix, context_lr, polarity in [
            ("", 1.0, "normal"),
            ("-mixed", 1.0, "mixed"),
            ("-frozen", 0.0, "normal"),
            ("-frozen-mixed", 0.0, "mixed"),
        ]:
            name = f"cxgrad-{key}{suffix}"
            assert name in CONFIGURATIONS
            config = record_config(name, seed=4)
            assert (config.method, config.context_lr, config.polarity) == (
                "cxgrad",
                context_lr,
                polarity,
            )
            # the course's standard run with only the variant's change
            plain = record_config("cxgrad", seed=4)
            changed = {k for k, v in config.to_dict().items() if plain.to_dict()[k] != v}
            expected = set(CONTEXT_JOBS[key][1])
            expected |= {"context_lr"} if context_lr == 0 else set()
            expected |= {"polarity"} if polarity == "mixed" else set()
            assert changed == expected
