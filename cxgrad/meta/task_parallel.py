"""A meta-batch's meta-gradient computed by several CPU threads, each on its share of tasks.

On a CPU the tasks of a meta-batch are independent until their losses are averaged, so W
threads can each adapt and differentiate their own share of the tasks at the same time,
every operation on one core, instead of one thread running every operation on W cores.
At the paper's 84x84 shape, where the task loop is the fastest CPU path, this keeps both
cores of a 2-core machine busy through the many small operations of the inner loop that
do not parallelize inside themselves (``benchmarks/cpu_step.py`` measures it).

The result is the meta-batch's mean query loss and its gradient, as a single backward of
``meta_batch_loss`` gives it, up to float32 rounding: each share's gradient is that of its
loss weighted by its share of the tasks, and the shares' gradients are summed in task
order. Each thread computes with one intra-op thread, so the sum is deterministic: the
same meta-batch always gives the same bits.

Worker threads allocate from glibc's main heap
(``cxgrad.training._cpu_memory.configure_cpu`` sets one malloc arena): with an arena per
thread the large activations were mapped and faulted in again at every step.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch

from cxgrad.data.episodes import TaskBatch
from cxgrad.meta.execution import cpu_task_workers
from cxgrad.meta.learner import MetaLearner, Params


def task_shares(tasks: int, workers: int) -> list[slice]:
    """Contiguous shares of ``tasks`` for at most ``workers`` threads, sizes within one
    of each other, none empty, in task order."""
    if tasks < 1 or workers < 1:
        raise ValueError(f"need at least one task and one worker, got {tasks} and {workers}")
    count = min(tasks, workers)
    sizes = [tasks // count + (i < tasks % count) for i in range(count)]
    starts = [sum(sizes[:i]) for i in range(count)]
    return [slice(start, start + size) for start, size in zip(starts, sizes, strict=True)]


class TaskParallelMetaGradient:
    """Called as ``meta_gradient(params, batch)``: the meta-batch's mean loss and accuracy
    (detached), with the meta-gradient left in each parameter's ``.grad``, computed by
    ``workers`` threads. A worker's exception is raised here, in the calling thread."""

    def __init__(self, learner: MetaLearner, workers: int, batched: bool = False) -> None:
        if workers < 2:
            raise ValueError(f"task-parallel training needs at least 2 workers, got {workers}")
        self.learner = learner
        self.workers = workers
        self.batched = batched
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="cxgrad-task")

    def __call__(self, params: Params, batch: TaskBatch) -> tuple[torch.Tensor, torch.Tensor]:
        tasks = batch.x_support.shape[0]
        names = list(params)
        threads = torch.get_num_threads()
        try:
            shares = list(
                self._pool.map(
                    lambda share: self._share(params, names, batch, share, tasks),
                    task_shares(tasks, self.workers),
                )
            )
        finally:
            torch.set_num_threads(threads)  # the workers set the process-wide count to 1
        loss = sum(share_loss for share_loss, _, _ in shares)
        accuracy = sum(share_accuracy for _, share_accuracy, _ in shares)
        for index, name in enumerate(names):
            grads = [share_grads[index] for _, _, share_grads in shares]
            grads = [g for g in grads if g is not None]
            params[name].grad = sum(grads[1:], grads[0]) if grads else None
        return loss, accuracy

    def _share(
        self, params: Params, names: list[str], batch: TaskBatch, share: slice, tasks: int
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor | None, ...]]:
        torch.set_num_threads(1)  # this thread's operations on one core (and deterministic)
        part = TaskBatch(*(tensor[share] for tensor in batch.tensors()))
        weight = (share.stop - share.start) / tasks
        loss, accuracy = self.learner.meta_batch_loss(
            params, part, training=True, batched=self.batched
        )
        weighted = loss * weight
        grads = torch.autograd.grad(weighted, [params[n] for n in names], allow_unused=True)
        return weighted.detach(), accuracy * weight, grads

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def cpu_task_parallel(
    learner: MetaLearner, path: str, device: torch.device, batched: bool
) -> TaskParallelMetaGradient | None:
    """The task-parallel meta-gradient where ``path`` runs the tasks in threads
    (``execution.cpu_task_workers``), else None: the meta-batch in the calling thread."""
    workers = cpu_task_workers(path, device, batched)
    return TaskParallelMetaGradient(learner, workers, batched) if workers else None
