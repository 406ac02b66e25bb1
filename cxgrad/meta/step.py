"""The meta-gradient of one outer step: what the trainer, the eps analysis and the CPU
benchmarks all compute, in one place."""

from __future__ import annotations

from collections.abc import Callable

import torch

from cxgrad.data.episodes import TaskBatch
from cxgrad.meta.learner import MetaLearner, Params


def meta_gradient(
    learner: MetaLearner,
    params: Params,
    batch: TaskBatch,
    batched: bool = False,
    task_parallel: Callable[[Params, TaskBatch], tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The meta-batch's mean query loss and accuracy, with the meta-gradient of ``params``
    (leaf tensors) left in each ``.grad``, replacing what was there.

    Algorithm 1's outer update is then ``optimizer.step()``. ``batched`` and
    ``task_parallel`` (a ``TaskParallelMetaGradient``) choose how the tasks are computed
    (``cxgrad.meta.execution``); every choice computes the same function.
    """
    for tensor in params.values():
        tensor.grad = None
    if task_parallel is not None:
        return task_parallel(params, batch)
    loss, accuracy = learner.meta_batch_loss(params, batch, training=True, batched=batched)
    loss.backward()
    return loss, accuracy
