"""The paper's equations as properties of the library's own Conv4 and meta-learners."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from helpers import (
    CONVS,
    NO_EPS,
    directional_check,
    double_params,
    query_loss_from_context,
    tiny_learner,
    tiny_model,
    tiny_task,
)

from cxgrad.data import load_synthetic
from cxgrad.data.episodes import EpisodeSampler
from cxgrad.errors import ConfigError
from cxgrad.evaluation import evaluate
from cxgrad.meta import InnerTrace, MetaConfig, MetaLearner, gphi, implicit_gradient_scaling
from cxgrad.models import Conv4Config, ResNet12Config, conv4_forward
from cxgrad.models.backbone import Backbone


def query_loss(params, model, x, y):
    return F.cross_entropy(conv4_forward(params, x, model), y)


# --------------------------------------------------------------------------- Eq. 4
@pytest.mark.parametrize("layer", CONVS)
@pytest.mark.parametrize("a", [1e-2, 0.5, 3.0, 250.0])
def test_batchnorm_makes_forward_invariant_to_weight_scale(layer, a):
    """Eq. 4: BN(a v^T x) = BN(v^T x) for a > 0 (exact when BN's eps is negligible)."""
    model = tiny_model(bn_eps=NO_EPS)
    params = double_params(tiny_learner("maml", bn_eps=NO_EPS))
    x, _, _, _ = tiny_task()
    scaled = dict(params, **{layer: a * params[layer]})
    torch.testing.assert_close(
        conv4_forward(scaled, x, model), conv4_forward(params, x, model), rtol=1e-10, atol=1e-10
    )


def test_batchnorm_eps_breaks_invariance_for_tiny_weights():
    """With eps = 1e-5 the invariance holds for ordinary weights but fails once the conv
    output variance is comparable to eps: this is why gamma still matters in the loss."""
    model = tiny_model(bn_eps=1e-5)
    params = double_params(tiny_learner("maml"))
    x, y, _, _ = tiny_task()
    base = query_loss(params, model, x, y)
    near = query_loss(dict(params, **{"conv2.weight": 0.5 * params["conv2.weight"]}), model, x, y)
    tiny = query_loss(dict(params, **{"conv2.weight": 1e-4 * params["conv2.weight"]}), model, x, y)
    assert abs(float(near - base)) < 1e-4
    assert abs(float(tiny - base)) > 1e-3


# --------------------------------------------------------------------------- Eq. 5
@pytest.mark.parametrize("layer", CONVS)
@pytest.mark.parametrize("a", [0.1, 2.0, 40.0])
def test_gradient_with_respect_to_scaled_weight_shrinks_by_one_over_a(layer, a):
    """Eq. 5: d L / d(a v) = (1/a) d L / d v."""
    model = tiny_model(bn_eps=NO_EPS)
    params = double_params(tiny_learner("maml", bn_eps=NO_EPS))
    x, y, _, _ = tiny_task()

    def grad_at(weight):
        w = weight.clone().requires_grad_()
        (g,) = torch.autograd.grad(query_loss(dict(params, **{layer: w}), model, x, y), w)
        return g

    torch.testing.assert_close(
        grad_at(a * params[layer]), grad_at(params[layer]) / a, rtol=1e-8, atol=1e-12
    )


# --------------------------------------------------------------------------- IGS (Alg. 2)
def test_igs_sets_each_conv_norm_to_its_gamma():
    params = double_params(tiny_learner("cxgrad"))
    gammas = torch.tensor([0.3, 1.0, 2.5, 7.0], dtype=torch.float64)
    scaled = implicit_gradient_scaling(params, CONVS, gammas)
    norms = torch.stack([torch.linalg.vector_norm(scaled[n]) for n in CONVS])
    torch.testing.assert_close(norms, gammas)
    for name in CONVS:  # direction unchanged
        cos = F.cosine_similarity(scaled[name].flatten(), params[name].flatten(), dim=0)
        assert float(cos) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_igs_leaves_forward_unchanged_up_to_bn_eps(seed):
    learner = tiny_learner("cxgrad")
    params = double_params(learner, seed)
    x, y, _, _ = tiny_task(seed)
    nu = torch.randn(6, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    scaled = dict(params, **implicit_gradient_scaling(params, CONVS, gphi(params, nu)))
    deviations = []
    for eps in (1e-5, 1e-7, 1e-9, NO_EPS):
        model = tiny_model(bn_eps=eps)
        diff = conv4_forward(scaled, x, model) - conv4_forward(params, x, model)
        deviations.append(float(diff.abs().max()))
    # The only difference is eps's: it vanishes as eps does, and is exactly zero without it.
    assert deviations[0] < 0.05
    assert deviations[0] > deviations[1] > deviations[2]
    assert deviations[3] < 1e-10


def test_gphi_outputs_one_positive_gamma_per_conv_layer():
    params = double_params(tiny_learner("cxgrad"))
    gammas = gphi(params, torch.randn(5, 6, dtype=torch.float64) * 100)
    assert gammas.shape == (5, 4)
    assert bool((gammas > 0).all())


def test_cxgrad_inner_gradient_is_taken_with_respect_to_the_scaled_weight():
    """First inner step: ||grad wrt scaled w_l|| = ||w_l|| / gamma_l * ||grad wrt w_l||."""
    cx = tiny_learner("cxgrad", bn_eps=NO_EPS, inner_steps_train=1)
    maml = tiny_learner("maml", bn_eps=NO_EPS, inner_steps_train=1)
    params = double_params(cx)
    x_s, y_s, _, _ = tiny_task()
    cx_trace, maml_trace = InnerTrace(), InnerTrace()
    cx.adapt(params, x_s, y_s, 1, first_order=True, trace=cx_trace)
    maml.adapt(params, x_s, y_s, 1, first_order=True, trace=maml_trace)
    gammas = cx_trace.gammas[0]
    for layer, name in enumerate(CONVS):
        expected = maml_trace.grad_norms[0][name] * float(params[name].norm()) / gammas[layer]
        assert cx_trace.grad_norms[0][name] == pytest.approx(expected, rel=1e-8)
    for name in ("head.weight", "head.bias"):  # the head is never scaled
        assert cx_trace.grad_norms[0][name] == pytest.approx(maml_trace.grad_norms[0][name])


# --------------------------------------------------------------------------- Alg. 1
@pytest.mark.parametrize(
    ("scheme", "steps", "expected"),
    [
        ("task-wise", 5, 6),
        ("task-wise", 1, 2),
        ("task-wise", 0, 1),
        ("step-wise", 5, 10),
        ("step-wise", 2, 4),
    ],
)
def test_number_of_context_updates_per_task(scheme, steps, expected):
    """Task-wise: one warm-up update without graph, then one per step (6 for 5 steps).
    Step-wise: nu is reset and warmed up again before every step (2 updates a step)."""
    learner = tiny_learner("cxgrad", context_scheme=scheme)
    params = double_params(learner)
    x_s, y_s, _, _ = tiny_task()
    trace = InnerTrace()
    learner.adapt(params, x_s, y_s, steps, first_order=True, trace=trace)
    assert trace.context_updates == expected
    assert len(trace.gammas) == steps


def test_step_wise_first_step_is_the_task_wise_one():
    """Both schemes start with nu = 0 and one warm-up: a single step is the same step."""
    x_s, y_s, _, _ = tiny_task()
    adapted = {}
    for scheme in ("task-wise", "step-wise"):
        learner = tiny_learner("cxgrad", context_scheme=scheme)
        adapted[scheme] = learner.adapt(double_params(learner), x_s, y_s, 1, first_order=True)
    for name, value in adapted["task-wise"].items():
        torch.testing.assert_close(adapted["step-wise"][name], value, rtol=0, atol=0)


def test_step_wise_refuses_an_initial_context():
    learner = tiny_learner("cxgrad", context_scheme="step-wise")
    params = double_params(learner)
    x_s, y_s, _, _ = tiny_task()
    nu = torch.zeros(learner.meta.context_dim, dtype=torch.float64)
    with pytest.raises(ConfigError, match="step-wise scheme resets nu before every step"):
        learner.adapt(params, x_s, y_s, 2, first_order=True, initial_context=nu)


def test_context_is_reset_for_every_task():
    """Adapting to task B after task A gives exactly what B gives alone: no nu carries over."""
    learner = tiny_learner("cxgrad")
    params = double_params(learner)
    task_a, task_b = tiny_task(1), tiny_task(2)
    alone = learner.adapt(params, task_b[0], task_b[1], 3, first_order=True)
    learner.adapt(params, task_a[0], task_a[1], 3, first_order=True)
    after_a = learner.adapt(params, task_b[0], task_b[1], 3, first_order=True)
    for name in alone:
        assert torch.equal(alone[name], after_a[name])


def test_context_changes_the_scaling_across_steps():
    learner = tiny_learner("cxgrad")
    params = double_params(learner)
    x_s, y_s, _, _ = tiny_task()
    trace = InnerTrace()
    learner.adapt(params, x_s, y_s, 3, first_order=True, trace=trace)
    assert trace.gammas[0] != trace.gammas[1] != trace.gammas[2]


@pytest.mark.parametrize("method", ["maml", "anil", "boil", "cxgrad"])
def test_only_the_methods_inner_parameters_move(method):
    learner = tiny_learner(method)
    params = double_params(learner)
    x_s, y_s, _, _ = tiny_task()
    fast = learner.adapt(params, x_s, y_s, 2, first_order=True)
    moved = {k for k in params if not torch.equal(fast[k], params[k])}
    head, convs = {"head.weight", "head.bias"}, set(CONVS)
    assert (
        moved == {"maml": head | convs, "anil": head, "boil": convs, "cxgrad": head | convs}[method]
    )


@pytest.mark.parametrize("method", ["maml", "anil", "boil"])
def test_second_order_meta_gradient_matches_finite_differences(method):
    learner = tiny_learner(method)
    params = double_params(learner)
    x_s, y_s, x_q, y_q = tiny_task()
    directional_check(
        lambda p: learner.task_loss(p, x_s, y_s, x_q, y_q, training=True)[0],
        params,
        sorted(params),
    )


def test_cxgrad_meta_gradient_matches_finite_differences():
    """CxGrad's meta-gradient reaches theta and phi (g_phi). The warm-up context step has no
    graph, so the reference treats its result nu_1 as a constant, as autograd does."""
    learner = tiny_learner("cxgrad")
    params = double_params(learner)
    x_s, y_s, x_q, y_q = tiny_task()

    # nu_1 as the warm-up computes it, then held fixed under perturbations.
    nu1 = _warm_up_nu(learner, params, x_s, y_s)

    loss_with_fixed_nu = query_loss_from_context(learner, nu1, x_s, y_s, x_q, y_q)

    # autograd through the real algorithm equals FD of the fixed-nu_1 function
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    real = learner.task_loss(leaves, x_s, y_s, x_q, y_q, training=True)[0]
    fixed = loss_with_fixed_nu(params)
    assert float(real.detach()) == pytest.approx(float(fixed), rel=1e-12)
    directional_check(loss_with_fixed_nu, params, sorted(params))
    grads = torch.autograd.grad(real, [leaves[k] for k in sorted(params)])
    by_name = dict(zip(sorted(params), grads, strict=True))
    assert all(float(by_name[k].abs().sum()) > 0 for k in by_name if k.startswith("gphi"))
    # ... and the real path's meta-gradient is the gradient of that function, tensor by tensor
    # (its value alone would not show that the warm-up's nu carries no graph).
    fixed_leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    reference = torch.autograd.grad(
        loss_with_fixed_nu(fixed_leaves), [fixed_leaves[k] for k in sorted(params)]
    )
    for name, expected in zip(sorted(params), reference, strict=True):
        torch.testing.assert_close(by_name[name], expected, rtol=1e-10, atol=1e-12)


def _warm_up_nu(learner, params, x_s, y_s):
    """nu after Algorithm 1 line 10, recomputed independently with autograd."""
    nu = torch.zeros(learner.meta.context_dim, dtype=torch.float64, requires_grad=True)
    scaled = implicit_gradient_scaling(params, CONVS, gphi(params, nu))
    loss = F.cross_entropy(learner.forward(dict(params, **scaled), x_s), y_s)
    (g,) = torch.autograd.grad(loss, nu)
    return (nu - learner.meta.context_lr * g).detach()


@pytest.mark.parametrize("method", ["maml", "cxgrad"])
def test_first_order_differs_from_second_order(method):
    x_s, y_s, x_q, y_q = tiny_task()
    grads = {}
    for first_order in (False, True):
        learner = tiny_learner(method, first_order=first_order)
        params = {k: v.requires_grad_() for k, v in double_params(learner).items()}
        loss, _ = learner.task_loss(params, x_s, y_s, x_q, y_q, training=True)
        loss.backward()
        grads[first_order] = torch.cat([p.grad.flatten() for p in params.values()])
    assert not torch.allclose(grads[False], grads[True], rtol=1e-3)


def test_first_order_maml_gradient_is_the_query_gradient_at_the_fast_weights():
    learner = tiny_learner("maml", first_order=True)
    params = {k: v.requires_grad_() for k, v in double_params(learner).items()}
    x_s, y_s, x_q, y_q = tiny_task()
    loss, _ = learner.task_loss(params, x_s, y_s, x_q, y_q, training=True)
    loss.backward()
    fast = {
        k: v.detach().requires_grad_()
        for k, v in learner.adapt(params, x_s, y_s, 2, first_order=True).items()
    }
    F.cross_entropy(learner.forward(fast, x_q), y_q).backward()
    for name in params:
        torch.testing.assert_close(params[name].grad, fast[name].grad)


def test_evaluation_adapts_without_changing_the_meta_parameters():
    learner = tiny_learner("cxgrad")
    params = double_params(learner)
    before = {k: v.clone() for k, v in params.items()}
    x_s, y_s, x_q, _ = tiny_task()
    logits = learner.predict(params, x_s, y_s, x_q)
    assert logits.shape == (6, 3)
    for k in params:
        assert torch.equal(params[k], before[k])


def test_init_is_seeded():
    learner = tiny_learner("cxgrad")
    a, b, c = learner.init_params(1), learner.init_params(1), learner.init_params(2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["conv1.weight"], c["conv1.weight"])


def test_bad_method_and_scheme_are_refused():
    with pytest.raises(ConfigError, match="unknown method 'reptile'"):
        MetaConfig(method="reptile")
    with pytest.raises(ConfigError, match="context scheme"):
        MetaConfig(method="cxgrad", context_scheme="layer-wise")


# --------------------------------------------------------------------------- eval steps
@pytest.fixture(params=["maml", "cxgrad"])
def uneven_steps_learner(request):
    """Evaluation adapts for more steps (3) than training (1), as the paper's 5 vs 10."""
    return tiny_learner(request.param, inner_steps_train=1, inner_steps_eval=3)


def record_adapt_steps(learner) -> list[int]:
    """Wrap ``learner.adapt`` (on this instance) to record the step count of every call."""
    steps, real = [], learner.adapt

    def recording(params, x_s, y_s, n, *args, **kwargs):
        steps.append(n)
        return real(params, x_s, y_s, n, *args, **kwargs)

    learner.adapt = recording
    return steps


def test_evaluation_adapts_for_the_eval_steps_and_training_for_the_train_steps(
    uneven_steps_learner,
):
    learner = uneven_steps_learner
    params = double_params(learner)
    x_s, y_s, x_q, y_q = tiny_task()
    three = learner.forward(learner.adapt(params, x_s, y_s, 3, first_order=True), x_q)
    one = learner.forward(learner.adapt(params, x_s, y_s, 1, first_order=True), x_q)
    assert not torch.allclose(three, one)
    torch.testing.assert_close(learner.predict(params, x_s, y_s, x_q), three, rtol=0, atol=0)
    steps = record_adapt_steps(learner)
    learner.task_loss(params, x_s, y_s, x_q, y_q, training=True)
    learner.task_loss(params, x_s, y_s, x_q, y_q, training=False)
    assert steps == [1, 3]


@pytest.mark.parametrize("batched", [False, True], ids=["sequential", "batched"])
def test_evaluate_adapts_every_task_for_the_eval_steps(uneven_steps_learner, batched):
    learner = uneven_steps_learner
    glyphs = load_synthetic(num_classes=(6, 4, 4), images_per_class=6, image_size=16)
    sampler = EpisodeSampler(glyphs.split("val"), ways=3, shots=1, queries=2, seed=0)
    steps = record_adapt_steps(learner)
    evaluate(learner, [learner.init_params(0)], sampler, tasks=3, progress=False, batched=batched)
    assert steps and set(steps) == {3}


# --------------------------------------------------------------------------- seams
class NoFoldConv4(Conv4Config):
    """Conv4 that has ``forward_tasks`` but says it does not fold tasks."""

    folds_tasks = False


def test_backbones_declare_whether_they_fold_tasks():
    """The learner folds tasks when the backbone says so (``folds_tasks``), not when it
    happens to have a ``forward_tasks`` attribute."""
    conv4, resnet = Conv4Config(ways=3, image_size=16, filters=4), ResNet12Config(ways=3)
    assert isinstance(conv4, Backbone) and isinstance(resnet, Backbone)
    meta = MetaConfig(method="maml")
    assert MetaLearner(conv4, meta).folds_tasks
    assert not MetaLearner(resnet, meta).folds_tasks
    assert not MetaLearner(NoFoldConv4(ways=3, image_size=16, filters=4), meta).folds_tasks
    with pytest.raises(NotImplementedError, match="vmap"):
        resnet.forward_tasks(resnet.init(), torch.zeros(2, 3, 3, 84, 84))


def test_support_loss_is_the_inner_objective():
    """``support_loss`` (public: the landscape analysis differentiates it) is the mean
    support cross-entropy of the adapted tensors with the frozen rest."""
    learner = tiny_learner("maml")
    params = double_params(learner)
    x_s, y_s, _, _ = tiny_task()
    adapted = {k: v for k, v in params.items() if k in learner.adapted_names}
    frozen = {k: v for k, v in params.items() if k not in adapted}
    loss, detached = learner.support_loss(adapted, frozen, x_s, y_s)
    expected = F.cross_entropy(conv4_forward(params, x_s, learner.model), y_s)
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=0)
    assert not detached.requires_grad


def test_every_method_has_one_entry_in_the_registry():
    """``METHODS`` (the choices of ``--method``) and the registry of inner loops name the
    same methods: adding one to either alone fails here."""
    from cxgrad.meta.config import METHODS
    from cxgrad.meta.learner import METHOD_SPECS

    assert tuple(METHOD_SPECS) == METHODS


def test_the_context_gradient_of_line_13_is_the_gradient_through_igs():
    """``support_gradients``' pull-back equals autograd through the whole composition
    L(IGS(theta, nu); S) with respect to nu, in float64."""
    from cxgrad.meta import cxgrad as algorithm

    learner = tiny_learner("cxgrad")
    params = double_params(learner)
    x, y, _, _ = tiny_task()
    fast = learner.fast_weights(params, x)
    support = algorithm.Support(
        x=x,
        y=y,
        frozen={k: v for k, v in params.items() if k not in fast},
        loss=learner.support_loss,
        scaled_names=tuple(learner.scaled_names),
    )
    generator = torch.Generator().manual_seed(1)
    nu = torch.randn(6, generator=generator, dtype=torch.float64, requires_grad=True)
    _, _, g_nu, _ = algorithm.support_gradients(support, fast, nu)
    scaled = algorithm.igs(support, fast, nu)
    loss, _ = learner.support_loss({**support.unscaled(fast), **scaled}, support.frozen, x, y)
    (expected,) = torch.autograd.grad(loss, nu)
    torch.testing.assert_close(g_nu, expected, rtol=1e-12, atol=1e-14)
    frozen = dataclasses.replace(learner.meta, context_lr=0.0)
    assert torch.equal(algorithm.warm_up_context(support, fast, frozen), torch.zeros(6).double())
