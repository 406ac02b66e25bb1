"""Accuracy over seeded test tasks with both 95% intervals, optionally as an ensemble.

Two intervals are reported because the literature uses both:

* ``ci95_tasks``: 1.96 x the standard error of the per-task accuracies (the usual one).
* ``ci95_binomial``: 1.96 x sqrt(p (1 - p) / n) over all n query predictions pooled, which
  is what the paper's code reports (n = 600 tasks x 75 queries); it is narrower.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from tqdm.auto import tqdm

from cxgrad.data.episodes import EpisodeSampler
from cxgrad.device import params_device
from cxgrad.meta.learner import MetaLearner, Params

# The paper's test: 600 tasks (the authors' code and MAML's report accuracy over 600).
TEST_TASKS = 600


@dataclass
class EvalResult:
    accuracy: float
    ci95_tasks: float
    ci95_binomial: float
    tasks: int
    ways: int
    shots: int
    queries: int
    predictions: int
    models: int
    task_accuracies: list[float]

    def to_dict(self, include_tasks: bool = False) -> dict:
        data = asdict(self)
        if not include_tasks:
            data.pop("task_accuracies")
        return data

    def __str__(self) -> str:
        return (
            f"{100 * self.accuracy:.2f}% +- {100 * self.ci95_tasks:.2f}% (95% CI over "
            f"{self.tasks} tasks) +- {100 * self.ci95_binomial:.2f}% (binomial, "
            f"{self.predictions} predictions); {self.ways}-way {self.shots}-shot, "
            f"{self.models} model(s)"
        )


def confidence_intervals(task_accuracies: list[float], predictions: int) -> tuple[float, float]:
    """(per-task 95% half-width, binomial 95% half-width over pooled predictions)."""
    t = len(task_accuracies)
    mean = sum(task_accuracies) / t
    if t > 1:
        var = sum((a - mean) ** 2 for a in task_accuracies) / (t - 1)
        per_task = 1.96 * math.sqrt(var / t)
    else:
        per_task = float("nan")
    binomial = 1.96 * math.sqrt(mean * (1 - mean) / predictions)
    return per_task, binomial


def evaluate(
    learner: MetaLearner,
    models: list[Params],
    sampler: EpisodeSampler,
    tasks: int = TEST_TASKS,
    device: torch.device | str | None = None,
    progress: bool = True,
    description: str = "evaluate",
    batched: bool = False,
    tasks_per_batch: int = 8,
) -> EvalResult:
    """Adapt every model to tasks 0..tasks-1 of ``sampler``; average logits across models.

    With one model this is plain evaluation; with the k best checkpoints it is the logit
    ensemble the paper reports (k = 5). Tasks are processed ``tasks_per_batch`` at a time,
    all at once when ``batched`` (see ``MetaLearner.predict_batch``); the result does not
    depend on either setting.

    Every model and every batch of tasks is moved to ``device``; by default, the device of
    the first model's parameters.
    """
    if tasks < 1:
        raise ValueError(f"tasks must be >= 1, got {tasks}")
    if not models:
        raise ValueError("evaluate needs at least one parameter dict in models")
    device = params_device(models[0]) if device is None else torch.device(device)
    models = [{k: v.detach().to(device) for k, v in m.items()} for m in models]
    dtype = next(iter(models[0].values())).dtype
    accuracies: list[float] = []
    with tqdm(total=tasks, desc=description, disable=not progress, leave=False) as bar:
        for first in range(0, tasks, tasks_per_batch):
            count = min(tasks_per_batch, tasks - first)
            batch = sampler.batch(first, count).to(device, dtype)
            logits = sum(
                learner.predict_batch(
                    m, batch.x_support, batch.y_support, batch.x_query, batched=batched
                )
                for m in models
            )
            correct = (logits.argmax(-1) == batch.y_query).float().mean(-1)
            accuracies.extend(correct.tolist())
            bar.update(count)
    per_query = sampler.ways * sampler.queries
    per_task, binomial = confidence_intervals(accuracies, tasks * per_query)
    return EvalResult(
        accuracy=sum(accuracies) / tasks,
        ci95_tasks=per_task,
        ci95_binomial=binomial,
        tasks=tasks,
        ways=sampler.ways,
        shots=sampler.shots,
        queries=sampler.queries,
        predictions=tasks * per_query,
        models=len(models),
        task_accuracies=accuracies,
    )
