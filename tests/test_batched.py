"""The batched path computes exactly what the sequential reference path computes.

Conv4 batches by folding the tasks into grouped convolutions (``forward_tasks``); ResNet-12,
which has no folded forward, batches with ``vmap``. Both are checked against the loop.
"""

from __future__ import annotations

import pytest
import torch
from helpers import (
    assert_float32_parity,
    assert_float64_parity,
    loss_and_grads,
    task_batch,
    tiny_learner,
)

from cxgrad.data import load_synthetic
from cxgrad.data.episodes import EpisodeSampler, TaskBatch
from cxgrad.errors import ConfigError
from cxgrad.evaluation import evaluate
from cxgrad.meta import InnerTrace, MetaConfig, MetaLearner
from cxgrad.meta.execution import use_batched_path
from cxgrad.models import Conv4Config, ResNet12Config
from cxgrad.models.conv4 import conv4_forward, conv4_forward_tasks

METHODS = ["maml", "anil", "boil", "cxgrad"]


@pytest.mark.parametrize("first_order", [False, True], ids=["second-order", "first-order"])
@pytest.mark.parametrize("method", METHODS)
def test_parity_in_float64(method, first_order):
    learner = tiny_learner(method, first_order=first_order)
    params = {k: v.double() for k, v in learner.init_params(0).items()}
    batch = task_batch(torch.float64)
    assert_float64_parity(learner, params, batch)


@pytest.mark.integration
@pytest.mark.parametrize("method", METHODS)
def test_parity_in_float32(method):
    """float32 rounding differs between grouped and plain convolutions (and IGS's large early
    steps amplify it): every meta-gradient entry agrees to within 1e-4 of the largest entry
    of its own tensor."""
    learner = tiny_learner(method, inner_lr=0.01)
    params = learner.init_params(0)
    batch = task_batch(torch.float32)
    seq = loss_and_grads(learner, params, batch, batched=False)
    vec = loss_and_grads(learner, params, batch, batched=True)
    assert_float32_parity(vec, seq)


def test_float32_parity_is_judged_tensor_by_tensor():
    """A small tensor's meta-gradient with the wrong sign fails, however large the others."""
    loss, accuracy = torch.tensor(1.0), torch.tensor(0.5)
    seq = (loss, accuracy, {"conv1.weight": torch.tensor([1.0]), "bn1.bias": torch.tensor([1e-5])})
    vec = (loss, accuracy, dict(seq[2], **{"bn1.bias": torch.tensor([-1e-5])}))
    assert_float32_parity(seq, seq)
    with pytest.raises(AssertionError, match="bn1.bias"):
        assert_float32_parity(vec, seq)


def test_folded_forward_is_one_forward_per_task():
    """Per-task convs and head with shared BatchNorm (MAML's inner loop), then everything
    per task, then everything shared: always B separate forwards."""
    config = Conv4Config(ways=4, in_channels=3, image_size=20, filters=6)
    per_task = [
        {k: v.double() for k, v in config.init(torch.Generator().manual_seed(s)).items()}
        for s in range(3)
    ]
    stacked = {k: torch.stack([p[k] for p in per_task]) for k in per_task[0]}
    x = torch.rand(3, 7, 3, 20, 20, dtype=torch.float64)
    for adapted in (["conv", "head"], ["conv", "bn", "head"], []):
        params = {
            k: stacked[k] if k.split(".")[0].rstrip("1234") in adapted else per_task[0][k]
            for k in stacked
        }
        expected = torch.stack(
            [
                conv4_forward(
                    {k: v[b] if v.dim() > per_task[0][k].dim() else v for k, v in params.items()},
                    x[b],
                    config,
                )
                for b in range(3)
            ]
        )
        torch.testing.assert_close(conv4_forward_tasks(params, x, config), expected)


@pytest.mark.integration
@pytest.mark.parametrize("method", ["maml", "cxgrad"])
def test_vmap_parity_on_a_backbone_without_folding(method):
    """ResNet-12 does not fold tasks (folds_tasks is False): its batched path is vmap, checked
    in float64."""
    model = ResNet12Config(ways=3, in_channels=3, image_size=16, channels=2)
    learner = MetaLearner(model, MetaConfig(method=method, inner_steps_train=2, inner_lr=0.1))
    assert not learner.folds_tasks
    params = {k: v.double() for k, v in learner.init_params(0).items()}
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat(2, 1)
    batch = TaskBatch(
        torch.rand(2, 3, 3, 16, 16, generator=g, dtype=torch.float64),
        labels,
        torch.rand(2, 3, 3, 16, 16, generator=g, dtype=torch.float64),
        labels,
    )
    assert_float64_parity(learner, params, batch, same_accuracy=False)


def test_trace_refuses_several_tasks():
    learner = tiny_learner("cxgrad")
    batch = task_batch(torch.float32)
    with pytest.raises(ValueError, match="records one task"):
        learner.adapt(
            learner.init_params(0), batch.x_support, batch.y_support, 1, True, InnerTrace()
        )


@pytest.mark.integration
@pytest.mark.parametrize("method", METHODS)
def test_batched_prediction_matches(method):
    learner = tiny_learner(method)
    params = {k: v.double() for k, v in learner.init_params(0).items()}
    batch = task_batch(torch.float64)
    args = (params, batch.x_support, batch.y_support, batch.x_query)
    torch.testing.assert_close(
        learner.predict_batch(*args, batched=True), learner.predict_batch(*args, batched=False)
    )


@pytest.mark.integration
def test_evaluation_is_the_same_on_both_paths():
    data = load_synthetic(num_classes=(3, 3, 6), images_per_class=6, image_size=16)
    sampler = EpisodeSampler(data.split("test"), 3, 1, 2, seed=0, split_name="test")
    learner = tiny_learner("cxgrad")
    params = learner.init_params(0)
    results = [
        evaluate(learner, [params], sampler, tasks=7, progress=False, batched=b, tasks_per_batch=t)
        for b, t in ((False, 1), (True, 3), (True, 8))
    ]
    assert results[0].task_accuracies == results[1].task_accuracies == results[2].task_accuracies


def test_path_choice():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert use_batched_path("auto", cuda) and not use_batched_path("auto", cpu)
    assert use_batched_path("batched", cpu) and not use_batched_path("sequential", cuda)
    with pytest.raises(ConfigError, match="--path must be one of"):
        use_batched_path("parallel", cpu)
