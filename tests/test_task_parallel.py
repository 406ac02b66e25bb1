"""The task-parallel CPU meta-gradient: the same loss and gradient as one backward of the
meta-batch loss (to float64 round-off), the same bits on every call, and used only where
``--path fastest`` runs the task loop on a CPU."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_learner, tiny_run_config

from cxgrad.data.episodes import TaskBatch
from cxgrad.meta.execution import cpu_task_workers
from cxgrad.meta.task_parallel import TaskParallelMetaGradient, cpu_task_parallel, task_shares
from cxgrad.training import Trainer


def meta_batch(tasks: int = 3, dtype: torch.dtype = torch.float64) -> TaskBatch:
    g = torch.Generator().manual_seed(0)
    ys = torch.arange(3).repeat_interleave(2).repeat(tasks, 1)
    return TaskBatch(
        torch.rand(tasks, 6, 1, 16, 16, generator=g, dtype=dtype),
        ys,
        torch.rand(tasks, 6, 1, 16, 16, generator=g, dtype=dtype),
        ys,
    )


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_task_shares_cover_the_tasks_in_order():
    assert task_shares(4, 2) == [slice(0, 2), slice(2, 4)]
    assert task_shares(5, 2) == [slice(0, 3), slice(3, 5)]
    assert task_shares(2, 8) == [slice(0, 1), slice(1, 2)]  # never an empty share
    with pytest.raises(ValueError, match="at least one task and one worker"):
        task_shares(0, 2)


@pytest.mark.parametrize("method", ["maml", "cxgrad", "anil"])
@pytest.mark.parametrize("batched", [False, True])
def test_same_loss_and_meta_gradient_as_one_backward(method, batched, two_threads):
    """Three tasks in two threads (shares of 2 and 1, weighted by their size): the mean
    loss, accuracy and meta-gradient of the whole meta-batch, in float64."""
    learner = tiny_learner(method)
    params = {k: v.double().requires_grad_() for k, v in learner.init_params(0).items()}
    batch = meta_batch()
    loss, accuracy = learner.meta_batch_loss(params, batch, batched=batched)
    expected = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    parallel = TaskParallelMetaGradient(learner, workers=2, batched=batched)
    got_loss, got_accuracy = parallel(params, batch)
    torch.testing.assert_close(got_loss, loss.detach(), rtol=1e-13, atol=0)
    torch.testing.assert_close(got_accuracy, accuracy, rtol=1e-13, atol=0)
    for (name, param), want in zip(params.items(), expected, strict=True):
        if want is None:
            assert param.grad is None, name
        else:
            torch.testing.assert_close(param.grad, want, rtol=1e-10, atol=1e-13, msg=name)
    assert torch.get_num_threads() == 2  # the workers' one-thread setting is undone
    parallel.close()


def test_the_same_bits_on_every_call(two_threads):
    learner = tiny_learner("cxgrad")
    params = {k: v.requires_grad_() for k, v in learner.init_params(0).items()}
    batch = meta_batch(tasks=4, dtype=torch.float32)
    parallel = TaskParallelMetaGradient(learner, workers=2)
    runs = []
    for _ in range(3):
        loss, _ = parallel(params, batch)
        runs.append([loss, *(p.grad.clone() for p in params.values())])
        for p in params.values():
            p.grad = None
    for other in runs[1:]:
        assert all(torch.equal(a, b) for a, b in zip(runs[0], other, strict=True))


def test_needs_two_workers():
    with pytest.raises(ValueError, match="at least 2 workers, got 1"):
        TaskParallelMetaGradient(tiny_learner("maml"), workers=1)


def test_only_fastest_task_loop_on_a_cpu(two_threads):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert cpu_task_workers("fastest", cpu, batched=False) == 2
    assert cpu_task_workers("fastest", cpu, batched=True) == 0  # measured no faster
    for path in ("auto", "sequential", "batched"):  # the reference paths: one thread
        assert cpu_task_workers(path, cpu, batched=False) == 0
    assert cpu_task_workers("fastest", cuda, batched=False) == 0
    learner = tiny_learner("maml")
    assert cpu_task_parallel(learner, "fastest", cpu, batched=False).workers == 2
    assert cpu_task_parallel(learner, "auto", cpu, batched=False) is None
    torch.set_num_threads(1)
    assert cpu_task_workers("fastest", cpu, batched=False) == 0  # one core: nothing to share


@pytest.mark.integration
def test_trainer_uses_it_on_the_fastest_task_loop(tmp_path, two_threads):
    """At 40x40 (above the batched path's limit) ``fastest`` runs the task loop, in two
    threads: one step's loss is the reference path's, up to float32 rounding."""
    config = tiny_run_config(image_size=40)
    losses = {}
    for path in ("auto", "fastest"):
        trainer = Trainer(config, tmp_path / path, progress=False, path=path)
        assert (trainer.task_parallel is not None) == (path == "fastest")
        losses[path] = trainer.step()[0]
    assert losses["fastest"] == pytest.approx(losses["auto"], rel=1e-5)


def test_a_workers_error_reaches_the_caller(two_threads):
    """Labels out of range fail inside a worker: the caller gets the error, and the
    process keeps its thread count."""
    learner = tiny_learner("maml")
    params = {k: v.requires_grad_() for k, v in learner.init_params(0).items()}
    batch = meta_batch(tasks=2, dtype=torch.float32)
    bad = TaskBatch(batch.x_support, batch.y_support + 7, batch.x_query, batch.y_query)
    with pytest.raises(IndexError):
        TaskParallelMetaGradient(learner, workers=2)(params, bad)
    assert torch.get_num_threads() == 2
