"""The controls beside the paper's methods: LSLR (learned inner step sizes), IGS with a fixed
gamma = 1, CxGrad with a frozen context (beta = 0), the effective inner step
(``InnerTrace.relative_steps``) and the mixed-polarity task distribution.

Meta-gradients are checked in float64 against central finite differences, and the IGS
inner loop against an independent reference written with ``torch.autograd``.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from helpers import (
    CONVS,
    NO_EPS,
    SMALL,
    assert_float64_parity,
    assert_same_state,
    directional_check,
    double_params,
    final_state,
    run_cli,
    task_batch,
    tiny_learner,
    tiny_task,
)
from helpers import tiny_run_config as tiny_config

from cxgrad.data.episodes import EpisodeSampler
from cxgrad.errors import ConfigError, DataError
from cxgrad.meta import InnerTrace, MetaConfig, MetaLearner, gphi
from cxgrad.models import HEAD_NAMES, ResNet12Config, conv4_forward
from cxgrad.runs import TrainConfig, load_checkpoint
from cxgrad.training import train

HEAD = list(HEAD_NAMES)
LSLR_METHODS = ["maml", "anil", "boil"]
ADAPTED = {"maml": CONVS + HEAD, "anil": HEAD, "boil": CONVS}


def lslr_learner(method: str, **meta):
    return tiny_learner(method, learned_inner_lr=True, **meta)


def with_rates(learner, params, rates):
    """``params`` with every ``lslr.<name>`` set to ``rates`` (a list, one per step) times a
    per-tensor factor (1, 1.1, 1.2, ...), so that steps and tensors all differ."""
    out = dict(params)
    for i, name in enumerate(learner.adapted_names):
        out[f"lslr.{name}"] = torch.tensor(rates, dtype=torch.float64) * (1 + 0.1 * i)
    return out


def task_loss_fn(learner, task, training=True):
    x_s, y_s, x_q, y_q = task
    return lambda p: learner.task_loss(p, x_s, y_s, x_q, y_q, training=training)[0]


def meta_grads(learner, params, task):
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    loss = task_loss_fn(learner, task)(leaves)
    grads = torch.autograd.grad(loss, list(leaves.values()))
    return loss.detach(), dict(zip(leaves, grads, strict=True))


def reference_igs_loss(learner, params, gammas, task):
    """IGS written out by hand with torch.autograd (not torch.func): before each inner step
    every conv weight becomes gamma_l * w_l / ||w_l||_F, then one SGD step of alpha on the
    conv weights and the head. ``params`` must require grad."""
    x_s, y_s, x_q, y_q = task
    model, alpha = learner.model, learner.meta.inner_lr
    fast = {k: params[k] for k in CONVS + HEAD}
    for _ in range(learner.meta.inner_steps_train):
        fast = {
            k: gammas[CONVS.index(k)] * v / v.norm() if k in CONVS else v for k, v in fast.items()
        }
        loss = F.cross_entropy(conv4_forward({**params, **fast}, x_s, model), y_s)
        grads = torch.autograd.grad(loss, list(fast.values()), create_graph=True)
        fast = {k: v - alpha * g for (k, v), g in zip(fast.items(), grads, strict=True)}
    return F.cross_entropy(conv4_forward({**params, **fast}, x_q, model), y_q)


# --------------------------------------------------------------------------- meta-gradients
@pytest.mark.parametrize(
    ("method", "meta"),
    [
        ("igs", {}),
        ("maml", {"learned_inner_lr": True}),
        ("boil", {"learned_inner_lr": True}),
        ("cxgrad", {"context_lr": 0.0}),
    ],
    ids=["igs", "maml-lslr", "boil-lslr", "cxgrad-frozen"],
)
def test_second_order_meta_gradient_matches_finite_differences(method, meta):
    """Every meta-parameter (lslr.* included) along random directions. With beta = 0 no
    warm-up runs, so CxGrad's real function is checked, with no nu held fixed."""
    learner = tiny_learner(method, **meta)
    params = double_params(learner)
    if learner.meta.learned_inner_lr:
        params = with_rates(learner, params, [0.1, 0.05])
    loss_fn = task_loss_fn(learner, tiny_task())
    directional_check(loss_fn, params, sorted(params))
    lslr = sorted(k for k in params if k.startswith("lslr."))
    if lslr:  # the step sizes alone, so that their share is not drowned by the weights'
        directional_check(loss_fn, params, lslr, seed=1)


# --------------------------------------------------------------------------- LSLR
@pytest.mark.parametrize("method", LSLR_METHODS)
def test_lslr_parameters_are_one_rate_per_adapted_tensor_and_step(method):
    learner = lslr_learner(method, inner_steps_train=3, inner_lr=0.07)
    params = learner.init_params(5)
    plain = tiny_learner(method, inner_steps_train=3, inner_lr=0.07).init_params(5)
    lslr = {k for k in params if k.startswith("lslr.")}
    assert lslr == {f"lslr.{name}" for name in ADAPTED[method]}
    assert set(params) == set(plain) | lslr
    for name in lslr:
        assert torch.equal(params[name], torch.full((3,), 0.07))
    for name in plain:  # the rest of the init is plain MAML's (ANIL's, BOIL's) for that seed
        assert torch.equal(params[name], plain[name]), name


@pytest.mark.parametrize("method", LSLR_METHODS)
@pytest.mark.parametrize("alpha", [0.1, 0.07])
def test_lslr_with_every_rate_alpha_is_the_plain_method(method, alpha):
    learner = lslr_learner(method, inner_lr=alpha)
    plain = tiny_learner(method, inner_lr=alpha)
    params = {
        k: torch.full_like(v, alpha) if k.startswith("lslr.") else v
        for k, v in double_params(learner).items()
    }
    theta = {k: v for k, v in params.items() if not k.startswith("lslr.")}
    task = tiny_task()
    loss, grads = meta_grads(learner, params, task)
    plain_loss, plain_grads = meta_grads(plain, theta, task)
    assert float(loss) == float(plain_loss)
    for name in theta:
        torch.testing.assert_close(grads[name], plain_grads[name], rtol=1e-13, atol=1e-15)


def test_lslr_rates_are_per_step_and_per_tensor():
    """Changing step 1's rate of one tensor leaves a 1-step adaptation alone and changes a
    2-step one, in that tensor first."""
    learner = lslr_learner("maml")
    params = double_params(learner)
    changed = dict(params)
    changed["lslr.conv2.weight"] = params["lslr.conv2.weight"].clone()
    changed["lslr.conv2.weight"][1] = 0.3
    x_s, y_s, x_q, y_q = tiny_task()
    one = [learner.adapt(p, x_s, y_s, 1, first_order=True) for p in (params, changed)]
    assert all(torch.equal(one[0][k], one[1][k]) for k in CONVS + HEAD)
    two = [learner.adapt(p, x_s, y_s, 2, first_order=True) for p in (params, changed)]
    moved = {k for k in CONVS + HEAD if not torch.equal(two[0][k], two[1][k])}
    assert moved == {"conv2.weight"}  # the last step: only the tensor whose rate changed
    losses = [float(task_loss_fn(learner, (x_s, y_s, x_q, y_q))(p)) for p in (params, changed)]
    assert losses[0] != losses[1]


@pytest.mark.parametrize("method", LSLR_METHODS)
def test_meta_gradient_reaches_every_learned_rate(method):
    learner = lslr_learner(method)
    _, grads = meta_grads(learner, double_params(learner), tiny_task())
    for name in ADAPTED[method]:
        assert bool((grads[f"lslr.{name}"] != 0).all()), name


def test_evaluation_beyond_the_learned_steps_reuses_the_last_rate():
    """2 learned steps, 4 at evaluation: the same as 4 learned steps whose last two rates
    repeat the second."""
    learner = lslr_learner("maml", inner_steps_train=2, inner_steps_eval=4)
    longer = lslr_learner("maml", inner_steps_train=4, inner_steps_eval=4)
    params = with_rates(learner, double_params(learner), [0.1, 0.04])
    repeated = {
        k: torch.cat([v, v[-1:], v[-1:]]) if k.startswith("lslr.") else v for k, v in params.items()
    }
    x_s, y_s, x_q, y_q = tiny_task()
    loss, _ = learner.task_loss(params, x_s, y_s, x_q, y_q, training=False)
    assert torch.equal(loss, longer.task_loss(repeated, x_s, y_s, x_q, y_q, training=False)[0])
    assert loss != learner.task_loss(params, x_s, y_s, x_q, y_q, training=True)[0]
    logits = learner.predict(params, x_s, y_s, x_q)
    assert torch.equal(logits, longer.predict(repeated, x_s, y_s, x_q))


@pytest.mark.parametrize("method", ["cxgrad", "igs"])
def test_lslr_is_refused_for_methods_that_scale_through_the_norm(method):
    with pytest.raises(ConfigError, match=r"LSLR.*not '" + method):
        MetaConfig(method=method, learned_inner_lr=True)
    with pytest.raises(ConfigError, match="LSLR"):
        tiny_config(method=method, learned_inner_lr=True)
    with pytest.raises(ConfigError, match="inner_steps_train >= 1"):
        MetaConfig(method="maml", learned_inner_lr=True, inner_steps_train=0)


# --------------------------------------------------------------------------- frozen context
def test_frozen_context_is_zero_and_gamma_is_gphi_of_zero_for_every_task():
    learner = tiny_learner("cxgrad", context_lr=0.0)
    params = double_params(learner)
    expected = gphi(params, torch.zeros(learner.meta.context_dim, dtype=torch.float64)).tolist()
    gammas = []
    for seed in (0, 1, 2):
        x_s, y_s, _, _ = tiny_task(seed)
        trace = InnerTrace()
        learner.adapt(params, x_s, y_s, 3, first_order=True, trace=trace)
        assert trace.contexts == [[0.0] * learner.meta.context_dim] * 3
        assert trace.gammas == [expected] * 3
        assert trace.context_updates == 3  # no warm-up pass before the loop
        gammas.append(trace.gammas)
    assert gammas[0] == gammas[1] == gammas[2]
    # whereas a moving context gives each task and step its own gammas
    moving = InnerTrace()
    tiny_learner("cxgrad").adapt(params, *tiny_task()[:2], 3, first_order=True, trace=moving)
    assert moving.gammas[1] != expected and moving.contexts[1] != moving.contexts[0]


@pytest.mark.parametrize("method", ["cxgrad-frozen", "igs"])
def test_inner_loop_matches_a_hand_written_igs(method):
    """Frozen CxGrad is IGS with gamma = g_phi(0); the IGS control is IGS with gamma = 1.
    Loss and meta-gradient (through g_phi for CxGrad) against the autograd reference."""
    learner = (
        tiny_learner("cxgrad", context_lr=0.0, inner_steps_train=3)
        if method == "cxgrad-frozen"
        else tiny_learner("igs", inner_steps_train=3)
    )
    params = double_params(learner)
    task = tiny_task(1)
    loss, grads = meta_grads(learner, params, task)
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    if method == "igs":
        gammas = torch.ones(len(CONVS), dtype=torch.float64)
    else:
        gammas = gphi(leaves, torch.zeros(learner.meta.context_dim, dtype=torch.float64))
    reference = reference_igs_loss(learner, leaves, gammas, task)
    ref_grads = torch.autograd.grad(reference, list(leaves.values()))
    torch.testing.assert_close(loss, reference.detach(), rtol=1e-12, atol=0)
    for name, g in zip(leaves, ref_grads, strict=True):
        torch.testing.assert_close(grads[name], g, rtol=1e-9, atol=1e-12)
    if method == "cxgrad-frozen":  # phi is still meta-learned, through gamma = g_phi(0)
        assert float(grads["gphi.2.bias"].abs().min()) > 0


def test_negative_or_nan_context_lr_is_refused():
    for bad in (-0.5, float("nan")):
        # one check, in MetaConfig, which TrainConfig inherits
        with pytest.raises(ConfigError, match="--context-lr must be >= 0"):
            MetaConfig(method="cxgrad", context_lr=bad)
        with pytest.raises(ConfigError, match="--context-lr must be >= 0"):
            tiny_config(context_lr=bad)
    assert tiny_config(context_lr=0.0).meta_config().context_lr == 0


# --------------------------------------------------------------------------- IGS, gamma = 1
def test_igs_takes_every_gradient_at_unit_norm_conv_weights():
    learner = tiny_learner("igs")
    params = double_params(learner)
    x_s, y_s, _, _ = tiny_task()
    trace = InnerTrace(keep_points=True)
    fast = learner.adapt(params, x_s, y_s, 3, first_order=True, trace=trace)
    assert trace.gammas == [[1.0] * 4] * 3
    assert len(trace.points) == 3
    for point in trace.points:
        for name in CONVS:
            assert float(point[name].norm()) == pytest.approx(1.0, abs=1e-12)
    assert torch.equal(trace.points[0]["head.weight"], params["head.weight"])  # not rescaled
    for name in CONVS:  # the last step's result is not renormalized
        torch.testing.assert_close(
            fast[name], trace.points[2][name] - 0.1 * trace.gradients[2][name]
        )


def test_igs_first_step_is_mamls_up_to_bn_eps():
    """Without BN eps the unit-norm weights give MAML's forward (Eq. 4), hence its step-0
    support loss, and a conv gradient ||w|| times MAML's (Eq. 5)."""
    igs = tiny_learner("igs", bn_eps=NO_EPS)
    maml = tiny_learner("maml", bn_eps=NO_EPS)
    params = double_params(maml)
    x_s, y_s, _, _ = tiny_task()
    traces = {"igs": InnerTrace(keep_points=True), "maml": InnerTrace(keep_points=True)}
    for name, learner in (("igs", igs), ("maml", maml)):
        learner.adapt(params, x_s, y_s, 2, first_order=True, trace=traces[name])
    assert traces["igs"].support_losses[0] == pytest.approx(
        traces["maml"].support_losses[0], rel=1e-10
    )
    # the steps then differ: IGS's conv step is ||w|| times larger relative to the weight
    assert traces["igs"].support_losses[1] != pytest.approx(traces["maml"].support_losses[1])
    for name in CONVS:
        torch.testing.assert_close(
            traces["igs"].gradients[0][name],
            params[name].norm() * traces["maml"].gradients[0][name],
            rtol=1e-8,
            atol=1e-12,
        )
    for name in HEAD:
        torch.testing.assert_close(
            traces["igs"].gradients[0][name], traces["maml"].gradients[0][name], rtol=1e-8, atol=0
        )


@pytest.mark.parametrize("first_order", [False, True], ids=["second-order", "first-order"])
@pytest.mark.parametrize(
    ("method", "lslr"),
    [("igs", False), ("maml", True), ("anil", True), ("boil", True)],
    ids=["igs", "maml-lslr", "anil-lslr", "boil-lslr"],
)
def test_sequential_and_batched_paths_agree_in_float64(method, lslr, first_order):
    learner = tiny_learner(method, first_order=first_order, learned_inner_lr=lslr)
    params = double_params(learner)
    if lslr:
        params = with_rates(learner, params, [0.1, 0.05])
    batch = task_batch(torch.float64)
    assert_float64_parity(learner, params, batch)
    args = (params, batch.x_support, batch.y_support, batch.x_query)
    torch.testing.assert_close(
        learner.predict_batch(*args, batched=True), learner.predict_batch(*args, batched=False)
    )


@pytest.mark.parametrize(
    ("method", "lslr"), [("igs", False), ("maml", True)], ids=["igs", "maml-lslr"]
)
def test_vmap_parity_on_resnet12(method, lslr):
    """ResNet-12 has no folded forward: its batched path is vmap. IGS rescales only its
    block convs; LSLR learns a rate for every adapted tensor, the skip convs included."""
    model = ResNet12Config(ways=3, in_channels=1, image_size=16, channels=2)
    meta = MetaConfig(method=method, inner_steps_train=2, inner_lr=0.1, learned_inner_lr=lslr)
    learner = MetaLearner(model, meta)
    params = double_params(learner)
    if lslr:
        params = with_rates(learner, params, [0.1, 0.05])
        assert "lslr.block1.skip.weight" in params
    assert "block1.skip.weight" in set(learner.adapted_names) - set(learner.scaled_names)
    batch = task_batch(torch.float64, tasks=2, shots=1, queries=1)
    assert_float64_parity(learner, params, batch, same_accuracy=False)


# --------------------------------------------------------------------------- relative steps
@pytest.mark.parametrize("method", ["maml", "maml-lslr", "boil-lslr", "cxgrad", "igs"])
def test_relative_steps_are_the_rate_times_gradient_over_weight_norm(method):
    name, _, lslr = method.partition("-")
    learner = tiny_learner(name, learned_inner_lr=bool(lslr))
    params = double_params(learner)
    if lslr:
        params = with_rates(learner, params, [0.1, 0.03])
    x_s, y_s, _, _ = tiny_task()
    trace = InnerTrace(keep_points=True)
    learner.adapt(params, x_s, y_s, 2, first_order=True, trace=trace)
    assert len(trace.relative_steps) == 2
    for step in range(2):
        assert set(trace.relative_steps[step]) == set(learner.adapted_names)
        for k in learner.adapted_names:
            rate = float(params[f"lslr.{k}"][step]) if lslr else 0.1
            by_hand = rate * trace.gradients[step][k].norm() / trace.points[step][k].norm()
            assert trace.relative_steps[step][k] == pytest.approx(float(by_hand), rel=1e-12)
            if name == "maml" and step == 0:  # and the points are the weights themselves
                assert torch.equal(trace.points[0][k], params[k])


# --------------------------------------------------------------------------- polarity


def test_mixed_polarity_inverts_a_seeded_half_of_the_tasks(glyphs):
    classes = glyphs.split("train")
    normal = EpisodeSampler(classes, 3, 1, 2, seed=4)
    mixed = EpisodeSampler(classes, 3, 1, 2, seed=4, polarity="mixed")
    flags = [mixed.inverted(i) for i in range(200)]
    assert 0.4 <= sum(flags) / 200 <= 0.6
    assert flags == [
        EpisodeSampler(classes, 3, 1, 2, seed=4, polarity="mixed").inverted(i) for i in range(200)
    ]
    assert flags != [
        EpisodeSampler(classes, 3, 1, 2, seed=5, polarity="mixed").inverted(i) for i in range(200)
    ]
    assert not any(normal.inverted(i) for i in range(200))
    assert len(set(flags[:12])) == 2  # both kinds among the tasks compared below
    for i in range(12):
        images, chosen = mixed.task_uint8(i)
        plain, plain_chosen = normal.task_uint8(i)
        assert torch.equal(chosen, plain_chosen)
        assert images.dtype == torch.uint8
        assert torch.equal(images, 255 - plain if flags[i] else plain), i
    with pytest.raises(IndexError):
        mixed.inverted(-1)


def test_batch_agrees_with_task_uint8_under_mixed_polarity(glyphs):
    mixed = EpisodeSampler(glyphs.split("val"), 3, 1, 2, seed=1, split_name="val", polarity="mixed")
    first, count = 5, 8
    batch = mixed.batch(first, count)
    assert len({mixed.inverted(first + b) for b in range(count)}) == 2
    for b in range(count):
        one = mixed.split_images(mixed.task_uint8(first + b)[0][None])
        for got, expected in zip(batch.task(b).tensors(), one.tensors(), strict=True):
            assert torch.equal(got, expected), b


def test_bad_polarity_is_refused(glyphs):
    with pytest.raises(DataError, match="polarity must be one of normal, mixed, got 'upside'"):
        EpisodeSampler(glyphs.split("train"), 3, 1, 2, polarity="upside")
    with pytest.raises(ConfigError, match="unknown polarity .*choose one of normal, mixed"):
        tiny_config(polarity="upside")


# --------------------------------------------------------------------------- training and CLI
@pytest.mark.integration
@pytest.mark.parametrize(
    "changes",
    [{"method": "maml", "learned_inner_lr": True}, {"polarity": "mixed"}],
    ids=["maml-lslr", "mixed-polarity"],
)
def test_resume_is_exact(tmp_path, glyphs, changes):
    """The pattern of test_train's exact-resume test, with the new options."""
    full = tiny_config(iterations=4, **changes)
    train(full, tmp_path / "full", dataset=glyphs, progress=False)
    train(full.replace(iterations=2), tmp_path / "split", dataset=glyphs, progress=False)
    train(full, tmp_path / "split", resume=True, dataset=glyphs, progress=False)
    end = final_state(tmp_path / "full")
    assert_same_state(end, final_state(tmp_path / "split"))
    # and the option did something: step sizes learned, or other tasks than normal ones
    if full.learned_inner_lr:
        rates = [v for k, v in end["params"].items() if k.startswith("lslr.")]
        assert len(rates) == 6 and all(not torch.equal(r, torch.full((2,), 0.01)) for r in rates)
    else:
        normal = tiny_config(iterations=4)
        train(normal, tmp_path / "normal", dataset=glyphs, progress=False)
        other = final_state(tmp_path / "normal")["params"]["conv1.weight"]
        assert not torch.equal(end["params"]["conv1.weight"], other)


@pytest.mark.parametrize(
    ("args", "stored"),
    [
        (["--method", "cxgrad", "--context-lr", "0"], {"method": "cxgrad", "context_lr": 0.0}),
        (["--method", "igs"], {"method": "igs", "learned_inner_lr": False}),
        (
            ["--method", "maml", "--learned-inner-lr", "--polarity", "mixed"],
            {"method": "maml", "learned_inner_lr": True, "polarity": "mixed"},
        ),
    ],
    ids=["frozen-context", "igs", "lslr-mixed"],
)
def test_cli_trains_with_the_new_options(tmp_path, capsys, args, stored):
    run = tmp_path / "run"
    code, out, err = run_cli(
        capsys,
        "train",
        "--dataset",
        "synthetic",
        "--image-size",
        16,
        "--iterations",
        2,
        "--out",
        run,
        *args,
        *SMALL,
    )
    assert code == 0, err
    assert "finished 2 iterations" in out
    config = json.loads((run / "config.json").read_text())
    assert {k: config[k] for k in stored} == stored
    assert TrainConfig.load(run / "config.json").meta_config().method == stored["method"]
    params = load_checkpoint(run / "checkpoints" / "last.pt")["params"]
    assert any(k.startswith("lslr.") for k in params) == stored.get("learned_inner_lr", False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--context-lr", "-1"], "--context-lr must be >= 0"),
        (
            ["--method", "cxgrad", "--learned-inner-lr"],
            "learned inner step sizes (LSLR, --learned-inner-lr)",
        ),
    ],
)
def test_cli_refuses_bad_control_options(tmp_path, capsys, args, message):
    code, _, err = run_cli(
        capsys, "train", "--dataset", "synthetic", "--out", tmp_path / "r", *args
    )
    assert code == 2
    assert message in err[err.index("cxgrad: error:") :]
    assert "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_cli_refuses_an_unknown_polarity(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(capsys, "train", "--polarity", "upside", "--out", tmp_path / "r")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--polarity" in err and "invalid choice: 'upside'" in err
