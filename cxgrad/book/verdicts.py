"""What chapters 10 to 12 read from the results of record: a kept model, how much its context
depends on the task, how it separates inverted from normal tasks, and the paired comparisons
shown as verdict lines and plots.

The chapters call these instead of each defining them, so that the three chapters measure a
model, print a verdict and draw an interval the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cxgrad.analysis.context import ContextDependence, context_dependence
from cxgrad.data import EpisodeSampler, FewShotDataset
from cxgrad.records import (
    EQUIVALENCE_MARGIN,
    Comparison,
    comparable,
    compare,
    kept_seeds,
    load_record_model,
    nth_kept_model,
)
from cxgrad.runs import TrainConfig, build_learner, samplers

Records = Mapping[str, Mapping[int, dict[str, Any]]]


@dataclass(frozen=True)
class RecordModel:
    """A kept model of record: the seed it was trained with, its configuration and its
    meta-parameters."""

    name: str
    seed: int
    config: TrainConfig
    params: dict[str, torch.Tensor]


def record_model(name: str, index: int, results: Path) -> RecordModel:
    """The ``index``-th kept model of record ``name`` (from 0), or its last where it keeps
    fewer: how a chapter's ``SEED`` parameter picks the model it measures."""
    last = max(len(kept_seeds(name, results)) - 1, 0)
    seed, config, params = nth_kept_model(name, min(index, last), results)
    return RecordModel(name, seed, config, params)


def every_kept_model(
    model: RecordModel,
    measured: ContextDependence,
    sampler: EpisodeSampler,
    tasks: int,
    results: Path,
) -> dict[int, ContextDependence]:
    """``context_dependence`` of every kept model of ``model``'s configuration on ``tasks``
    test tasks, by seed; ``measured`` is the one already measured for ``model``."""
    reports = {}
    for seed in kept_seeds(model.name, results):
        if seed == model.seed:
            reports[seed] = measured
            continue
        config, params = load_record_model(model.name, seed, results)
        reports[seed] = context_dependence(build_learner(config), params, sampler, tasks)
    return reports


@dataclass(frozen=True)
class PolaritySeparation:
    """A model's context on a mixed-polarity distribution, inverted against normal tasks.

    ``d`` is Cohen's d per factor (the gap in units of the factor's spread across tasks),
    ``gap`` the distance between the two groups' mean factors relative to the factor's mean:
    what matters for the inner loop."""

    seed: int
    report: ContextDependence
    inverted: np.ndarray
    d: np.ndarray
    gap: np.ndarray


def polarity_separation(
    model: RecordModel, dataset: FewShotDataset, tasks: int
) -> PolaritySeparation:
    """Measure the context of ``model`` (trained on mixed polarity) on ``tasks`` of its test
    tasks, and how it tells the inverted ones from the normal ones."""
    sampler = samplers(model.config, dataset)["test"]
    inverted = np.array([sampler.inverted(i) for i in range(tasks)])
    report = context_dependence(build_learner(model.config), model.params, sampler, tasks)
    per_task = report.task_gammas()
    gap = np.abs(per_task[inverted].mean(0) - per_task[~inverted].mean(0)) / per_task.mean(0)
    return PolaritySeparation(model.seed, report, inverted, report.group_separation(inverted), gap)


def comparison_or_none(records: Records, a: str, b: str) -> Comparison | None:
    """The paired comparison a - b, or None (saying why) where the records cannot give one."""
    if comparable(records, a, b):
        return compare(records, a, b)
    missing = [name for name in (a, b) if name not in records]
    why = f"no records of {', '.join(missing)} yet" if missing else "fewer than 2 shared seeds"
    print(f"  {a} - {b}: {why}")
    return None


def print_verdicts(comparisons: Mapping[Any, Comparison]) -> None:
    """Each comparison with its difference test, TOST p value and verdict."""
    for comparison in comparisons.values():
        print(
            f"{comparison}; TOST p = {comparison.equivalence_p:.3f}: "
            f"{comparison.equivalence_verdict()}"
        )


def verdict_color(comparison: Comparison) -> str:
    """Red for a difference, blue for equivalence within the margin, gray where neither test
    decides."""
    if comparison.resolved:
        return "tab:red"
    return "tab:blue" if comparison.equivalent else "gray"


def verdict_plot(comparisons: Mapping[tuple[str, str], Comparison], title: str) -> None:
    """Each comparison a - b as its difference with the 95% interval over seeds, coloured by
    its verdict, with the equivalence margin shaded."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.45 * len(comparisons) + 1.2))
    for y, comparison in enumerate(reversed(list(comparisons.values()))):
        ax.errorbar(
            100 * comparison.difference,
            y,
            xerr=100 * comparison.ci95_seeds,
            fmt="o",
            color=verdict_color(comparison),
            capsize=3,
        )
    ax.set_yticks(range(len(comparisons)), [f"{a} - {b}" for a, b in reversed(comparisons)])
    ax.axvline(0, color="black", lw=0.8)
    margin = 100 * EQUIVALENCE_MARGIN
    ax.axvspan(-margin, margin, color="tab:blue", alpha=0.1, lw=0)
    ax.set_xlabel("difference in test accuracy (points), 95% CI over seeds")
    ax.set_title(title, fontsize=10)
    plt.tight_layout()
    plt.show()


def validation_curve(seeds: Mapping[int, dict], chosen: list[int]) -> tuple[list[int], np.ndarray]:
    """The iterations at which the records of the ``chosen`` seeds were validated, and their
    mean validation accuracy there (percent)."""
    iterations = [v["iteration"] for v in seeds[chosen[0]]["validations"]]
    accuracies = [[v["val_accuracy"] for v in seeds[s]["validations"]] for s in chosen]
    return iterations, 100 * np.mean(accuracies, axis=0)
