"""Batches meet their parameters on one device, checked without a GPU.

The parameters live on PyTorch's ``meta`` device (shapes without data) and the batches on
the CPU, as a CUDA model meets a CPU batch in a chapter. A function that forgets to move
the batch fails with "Tensor on device meta is not on the expected device cpu". Functions
that read numbers stop at the first one (a meta tensor has none); for them the tests
record the device of every input that reaches the network.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import tiny_learner, tiny_task

from cxgrad.analysis import (
    adaptation_cka,
    adapted_features,
    inner_gradient_norms,
    landscape_measures,
)
from cxgrad.analysis.context import context_dependence, effective_inner_steps
from cxgrad.data import EpisodeSampler, load_synthetic
from cxgrad.data.episodes import TaskBatch
from cxgrad.device import DeviceMismatchError, params_device, to_params_device
from cxgrad.evaluation import evaluate
from cxgrad.meta import InnerTrace
from cxgrad.models import Conv4Config

META = torch.device("meta")
METHODS = ["maml", "anil", "boil", "cxgrad", "igs"]


def on_meta(learner) -> dict[str, torch.Tensor]:
    return {k: v.double().to(META) for k, v in learner.init_params(0).items()}


def cpu_batch(tasks: int = 2) -> TaskBatch:
    parts = [tiny_task(seed) for seed in range(tasks)]
    return TaskBatch(*(torch.stack(column) for column in zip(*parts, strict=True)))


@pytest.fixture
def network_inputs(monkeypatch) -> list[torch.device]:
    """The device of every input that reaches Conv4 (forward, forward_tasks, features)."""
    seen: list[torch.device] = []
    for name in ("forward", "forward_tasks", "features"):
        original = getattr(Conv4Config, name)

        def recording(self, params, x, _original=original):
            seen.append(x.device)
            return _original(self, params, x)

        monkeypatch.setattr(Conv4Config, name, recording)
    return seen


def until_a_number_is_read(function, *args, **kwargs) -> None:
    """Run ``function`` on meta parameters up to the first number it reads, if any."""
    try:
        function(*args, **kwargs)
    except RuntimeError as err:
        message = str(err)
        if "expected device" in message or "meta tensor" not in message:
            raise


# ----------------------------------------------------------------- the learner


@pytest.mark.integration
@pytest.mark.parametrize("method", METHODS)
def test_learner_entry_points_move_a_cpu_batch_to_the_parameters(method):
    learner = tiny_learner(method)
    params = on_meta(learner)
    batch = cpu_batch()
    x_s, y_s, x_q, y_q = batch.tensors()
    fast = learner.adapt(params, x_s[0], y_s[0], 2, first_order=True)
    assert {v.device for v in fast.values()} == {META}
    assert learner.adapt(params, x_s, y_s, 2, first_order=True)["head.bias"].device == META
    loss, accuracy = learner.task_loss(params, x_s[0], y_s[0], x_q[0], y_q[0])
    assert loss.device == accuracy.device == META
    assert learner.predict(params, x_s[0], y_s[0], x_q[0]).device == META
    for batched in (False, True):
        logits = learner.predict_batch(params, x_s, y_s, x_q, batched=batched)
        assert logits.device == META and logits.shape == (2, 6, 3)
        loss, accuracy = learner.meta_batch_loss(params, batch, batched=batched)
        assert loss.device == accuracy.device == META


def test_a_traced_adaptation_reaches_the_network_on_the_parameters_device(network_inputs):
    learner = tiny_learner("cxgrad")
    x_s, y_s, _, _ = tiny_task()
    until_a_number_is_read(learner.adapt, on_meta(learner), x_s, y_s, 2, True, InnerTrace())
    assert network_inputs and set(network_inputs) == {META}


def test_moving_a_batch_to_the_cpu_parameters_is_no_copy():
    learner = tiny_learner("maml")
    params = learner.init_params(0)
    x_s, y_s, x_q, _ = tiny_task()
    moved = to_params_device(params, x_s, y_s, x_q)
    assert all(a is b for a, b in zip(moved, (x_s, y_s, x_q), strict=True))
    assert params_device(params) == torch.device("cpu")


# ----------------------------------------------------------------- when moving is impossible


def test_parameters_on_two_devices_are_refused_naming_both():
    learner = tiny_learner("maml")
    params = {**learner.init_params(0), "head.bias": torch.zeros(3, device=META)}
    x_s, y_s, _, _ = tiny_task()
    with pytest.raises(DeviceMismatchError, match=r"several devices \(cpu, meta\)"):
        learner.adapt(params, x_s, y_s, 1, first_order=True)
    with pytest.raises(DeviceMismatchError, match=r"cpu, meta"):
        evaluate(learner, [params], None, tasks=1, progress=False)
    with pytest.raises(ValueError, match="empty parameter dict"):
        params_device({})


def test_no_copy_between_devices_during_a_cuda_graph_capture(monkeypatch):
    """A copy cannot be captured in a CUDA graph: the batch must already be there."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: True)
    learner = tiny_learner("maml")
    x_s, y_s, _, _ = tiny_task()
    with pytest.raises(DeviceMismatchError, match="on cpu meets parameters on meta"):
        learner.adapt(on_meta(learner), x_s, y_s, 1, first_order=True)
    cpu_params = {k: v.double() for k, v in learner.init_params(0).items()}
    assert learner.adapt(cpu_params, x_s, y_s, 1, first_order=True)["head.bias"].shape == (3,)


# ----------------------------------------------------------------- analyses and evaluation


def test_adapted_features_are_computed_on_the_parameters_device():
    learner = tiny_learner("boil")
    x_s, y_s, x_q, _ = tiny_task()
    before, after = adapted_features(learner, on_meta(learner), x_s, y_s, x_q)
    assert before.device == after.device == META


@pytest.mark.parametrize(
    "measure",
    ["adaptation_cka", "inner_gradient_norms", "effective_inner_steps", "landscape_measures"],
)
@pytest.mark.parametrize("method", ["maml", "cxgrad"])
def test_analyses_move_a_cpu_batch_to_the_parameters(measure, method, network_inputs):
    learner = tiny_learner(method)
    params = on_meta(learner)
    batch = cpu_batch()
    x_s, y_s, x_q, _ = tiny_task()
    calls = {
        "adaptation_cka": lambda: adaptation_cka(learner, params, x_s, y_s, x_q),
        "inner_gradient_norms": lambda: inner_gradient_norms(learner, params, batch),
        "effective_inner_steps": lambda: effective_inner_steps(learner, params, batch),
        "landscape_measures": lambda: landscape_measures(learner, params, x_s, y_s),
    }
    until_a_number_is_read(calls[measure])
    assert network_inputs and set(network_inputs) == {META}


@pytest.fixture(scope="module")
def glyph_tasks() -> EpisodeSampler:
    glyphs = load_synthetic(num_classes=(12, 6, 6), images_per_class=6, image_size=16)
    return EpisodeSampler(glyphs.split("test"), 3, 1, 2, seed=0, split_name="test")


def test_context_dependence_moves_the_sampled_tasks(glyph_tasks, network_inputs):
    learner = tiny_learner("cxgrad")
    until_a_number_is_read(context_dependence, learner, on_meta(learner), glyph_tasks, 2)
    assert network_inputs and set(network_inputs) == {META}


@pytest.mark.parametrize("batched", [False, True])
def test_evaluate_runs_on_the_parameters_device_by_default(glyph_tasks, network_inputs, batched):
    learner = tiny_learner("cxgrad")
    until_a_number_is_read(
        evaluate, learner, [on_meta(learner)], glyph_tasks, 2, progress=False, batched=batched
    )
    assert network_inputs and set(network_inputs) == {META}


def test_evaluate_on_the_cpu_is_unchanged_by_the_default_device(glyph_tasks):
    learner = tiny_learner("maml")
    params = learner.init_params(0)
    default = evaluate(learner, [params], glyph_tasks, 4, progress=False)
    explicit = evaluate(learner, [params], glyph_tasks, 4, device="cpu", progress=False)
    assert default.task_accuracies == explicit.task_accuracies
    assert np.isfinite(default.accuracy)
