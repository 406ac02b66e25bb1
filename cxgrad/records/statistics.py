"""Paired comparisons of records over seeds: intervals, equivalence tests, sample sizes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cxgrad.errors import ConfigError
from cxgrad.records.catalogue import DECIDING_PAIRS, PAIRS, PLAN_FROM_SEEDS, PLANNED_SEEDS

# The equivalence margin, fixed before the runs that test it: two configurations whose
# accuracies differ by less than one point (0.01) over seeds are "equivalent" for the
# book's purposes. Two one-sided t tests (TOST) at level 0.05 decide it.
EQUIVALENCE_MARGIN = 0.01
EQUIVALENCE_ALPHA = 0.05


@dataclass
class Comparison:
    """``a`` minus ``b`` in test accuracy (fractions), on the same test tasks.

    ``ci95_seeds`` is the half-width of a t interval over the per-seed differences: it
    counts the variation between training runs, the one that matters when asking whether
    a method is better. ``ci95_tasks`` is the paired interval over all (seed, task)
    differences pooled: it only says how precisely these particular runs were measured.
    """

    a: str
    b: str
    difference: float
    ci95_seeds: float
    ci95_tasks: float
    seeds: list[int]
    per_seed: list[float]

    @property
    def resolved(self) -> bool:
        return abs(self.difference) > self.ci95_seeds

    def verdict(self) -> str:
        if not self.resolved:
            return "not resolved at this size"
        return f"{self.a} better" if self.difference > 0 else f"{self.b} better"

    @property
    def equivalence_p(self) -> float:
        """p-value of the two one-sided t tests (TOST) over the per-seed differences against
        the margin ``EQUIVALENCE_MARGIN``: the larger of the p-values of "difference <=
        -margin" and "difference >= +margin". Below ``EQUIVALENCE_ALPHA`` the difference
        lies within the margin (equivalently, the 90% t interval lies inside it)."""
        n = len(self.per_seed)
        if n < 2:
            return float("nan")
        sd = math.sqrt(sum((d - self.difference) ** 2 for d in self.per_seed) / (n - 1))
        if sd == 0:  # every seed gave the same difference: the test is decided by it alone
            return 0.0 if abs(self.difference) < EQUIVALENCE_MARGIN else 1.0
        from scipy.stats import t

        se = sd / math.sqrt(n)
        above_lower = t.sf((self.difference + EQUIVALENCE_MARGIN) / se, n - 1)
        below_upper = t.cdf((self.difference - EQUIVALENCE_MARGIN) / se, n - 1)
        return float(max(above_lower, below_upper))

    @property
    def equivalent(self) -> bool:
        return self.equivalence_p < EQUIVALENCE_ALPHA

    @property
    def undecided(self) -> bool:
        """Neither test decides: the difference is not resolved and not shown to lie within
        the margin. More seeds are needed; it never means "equal"."""
        return not self.resolved and not self.equivalent

    def equivalence_verdict(self) -> str:
        """The comparison in the words the book and the tables use: "different" (the 95%
        interval over seeds excludes 0), "equivalent within +-1 point" (TOST), both (a real
        difference smaller than the margin), or, where neither test decides, "not
        distinguishable here" with the interval that says how large a difference the
        records still allow. Never "equal"."""
        margin = f"+-{100 * EQUIVALENCE_MARGIN:g} point"
        if self.resolved and self.equivalent:
            return f"different, but within {margin}"
        if self.resolved:
            return "different"
        if self.equivalent:
            return f"equivalent within {margin}"
        low = 100 * (self.difference - self.ci95_seeds)
        high = 100 * (self.difference + self.ci95_seeds)
        return f"not distinguishable here (95% CI {low:+.2f} to {high:+.2f} points)"

    def __str__(self) -> str:
        return (
            f"{self.a} - {self.b}: {100 * self.difference:+.2f} points, 95% CI over "
            f"{len(self.seeds)} seeds +-{100 * self.ci95_seeds:.2f} (paired over tasks "
            f"+-{100 * self.ci95_tasks:.2f}): {self.verdict()}"
        )


def _t_quantile_975(dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, dof))


def mean_and_ci95(values: Sequence[float]) -> tuple[float, float]:
    """The mean of ``values`` and the half-width of its 95% t interval (Student's t with
    n - 1 degrees of freedom; nan for a single value): how the results of record are
    summarized over seeds."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, _t_quantile_975(n - 1) * sd / math.sqrt(n)


def _test(record: dict[str, Any], dataset: str | None) -> dict[str, Any]:
    """A record's test result: its own test split, or another dataset's (cross-domain)."""
    if dataset is None:
        return record["test"]
    if dataset not in record.get("cross_domain", {}):
        raise ConfigError(
            f"the record of {record.get('name')} seed {record.get('seed')} was not tested on "
            f"{dataset}; run cxgrad sweep run --force --cross-domain {dataset}"
        )
    return record["cross_domain"][dataset]


def compare(
    records: dict[str, dict[int, dict[str, Any]]], a: str, b: str, dataset: str | None = None
) -> Comparison:
    """Paired comparison of configurations ``a`` and ``b`` over the seeds both have, on
    their own test tasks or on ``dataset``'s (cross-domain)."""
    for name in (a, b):
        if name not in records:
            raise ConfigError(f"no records of {name!r}; run cxgrad sweep run --configs {name}")
    seeds = sorted(set(records[a]) & set(records[b]))
    if len(seeds) < 2:
        raise ConfigError(f"{a} and {b} share {len(seeds)} seed(s); a comparison needs 2 or more")
    per_seed, pooled = [], []
    for seed in seeds:
        ta = _test(records[a][seed], dataset)["task_accuracies"]
        tb = _test(records[b][seed], dataset)["task_accuracies"]
        if len(ta) != len(tb):
            raise ConfigError(f"{a} and {b} (seed {seed}) were tested on different task counts")
        diffs = [x - y for x, y in zip(ta, tb, strict=True)]
        per_seed.append(sum(diffs) / len(diffs))
        pooled.extend(diffs)
    mean, ci95_seeds = mean_and_ci95(per_seed)
    mean_pooled = sum(pooled) / len(pooled)
    sd_pooled = math.sqrt(sum((d - mean_pooled) ** 2 for d in pooled) / (len(pooled) - 1))
    return Comparison(
        a=a,
        b=b,
        difference=mean,
        ci95_seeds=ci95_seeds,
        ci95_tasks=1.96 * sd_pooled / math.sqrt(len(pooled)),
        seeds=seeds,
        per_seed=per_seed,
    )


def comparable(records: dict[str, dict[int, dict[str, Any]]], a: str, b: str) -> bool:
    """Both configurations have records on two or more shared seeds (an interval over seeds
    needs two)."""
    return a in records and b in records and len(set(records[a]) & set(records[b])) >= 2


def paired_comparisons(
    records: dict[str, dict[int, dict[str, Any]]], pairs: list[tuple[str, str]] = PAIRS
) -> dict[tuple[str, str], Comparison]:
    """The comparisons a - b of ``pairs`` that the records can make (``comparable``), in order."""
    return {(a, b): compare(records, a, b) for a, b in pairs if comparable(records, a, b)}


def sample_size_plan(
    records: dict[str, dict[int, dict[str, Any]]],
    pairs: list[tuple[str, str]] = DECIDING_PAIRS,
    seeds: Sequence[int] = PLAN_FROM_SEEDS,
) -> str:
    """The power calculation behind ``PLANNED_SEEDS``, as a table: per comparison the spread of
    its per-seed differences over ``seeds`` and the seeds its TOST needs (``records.power``)."""
    from cxgrad.records.power import POWER, plan_sample_size

    chosen = {
        name: {s: r for s, r in records[name].items() if s in seeds}
        for name in {n for pair in pairs for n in pair}
        if name in records
    }
    per_seed = {(a, b): compare(chosen, a, b).per_seed for a, b in pairs}
    plans = plan_sample_size(per_seed, EQUIVALENCE_MARGIN, EQUIVALENCE_ALPHA, POWER)
    margin = f"{100 * EQUIVALENCE_MARGIN:g}"
    lines = [
        f"TOST at a margin of +-{margin} point, level {EQUIVALENCE_ALPHA}, power {POWER:.0%} "
        "at a true difference of 0, planned from the spread of seeds "
        f"{min(seeds)}-{max(seeds)}:",
        "",
        "| comparison | seeds planned from | sd of the differences | seeds needed |",
        "| --- | --- | --- | --- |",
    ]
    for p in plans:
        lines.append(
            f"| `{p.a}` - `{p.b}` | {p.seeds_now} | {100 * p.sd:.2f} points | {p.seeds_needed} |"
        )
    needed = max(p.seeds_needed for p in plans)
    lines += [
        "",
        f"largest: {needed} seeds; planned size of record (cxgrad.records.PLANNED_SEEDS): "
        f"{PLANNED_SEEDS}",
    ]
    return "\n".join(lines)
