"""How many seeds an equivalence test needs: the sample size of record, fixed before the runs.

Two configurations are "equivalent" when two one-sided t tests (TOST) put their paired
difference in test accuracy inside +-``EQUIVALENCE_MARGIN``. Whether ``n`` seeds can show that
depends on the spread of the per-seed differences: with a standard deviation of 2 points and
a margin of 1 point, ten seeds decide nothing. ``seeds_for_equivalence`` gives the smallest
``n`` whose TOST has the asked power when the true difference is ``true_difference`` (0 by
default), by the t approximation of Chow, Shao & Wang ("Sample Size Calculations in Clinical
Research", section 3.2): the power of TOST at a true difference of 0 is
``1 - 2 * P(T_{n-1} > margin / se - t_{1-alpha, n-1})``, and for another true difference the
nearer margin dominates. Its tests check the formula against simulated TOSTs: within 0.01
from 20 seeds on, and conservative below (it undercounts the power of very small samples).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from cxgrad.errors import ConfigError

POWER = 0.8
MAX_SEEDS = 10_000


def tost_power(
    n: int, sd: float, margin: float, alpha: float, true_difference: float = 0.0
) -> float:
    """The power of TOST (level ``alpha``, margin +-``margin``) with ``n`` paired differences of
    standard deviation ``sd`` whose true mean is ``true_difference``: the probability that the
    test declares equivalence (t approximation: each one-sided test's power from Student's t
    with ``n - 1`` degrees of freedom, the two rejections' complements added)."""
    from scipy.stats import t

    if n < 2:
        return 0.0
    if sd <= 0:
        return 1.0 if abs(true_difference) < margin else 0.0
    se = sd / math.sqrt(n)
    critical = float(t.ppf(1 - alpha, n - 1))
    # each one-sided test fails to reject with the probability that the t statistic of its
    # bound stays below the critical value
    miss_lower = float(t.cdf(critical - (margin + true_difference) / se, n - 1))
    miss_upper = float(t.cdf(critical - (margin - true_difference) / se, n - 1))
    return max(0.0, 1.0 - miss_lower - miss_upper)


def seeds_for_equivalence(
    sd: float,
    margin: float,
    alpha: float,
    power: float = POWER,
    true_difference: float = 0.0,
) -> int:
    """The smallest number of seeds whose TOST has at least ``power`` (see ``tost_power``)."""
    if not sd > 0 or not math.isfinite(sd):
        raise ConfigError(f"the standard deviation of the differences must be > 0, got {sd!r}")
    if not margin > 0:
        raise ConfigError(f"the equivalence margin must be > 0, got {margin!r}")
    if not 0 < alpha < 0.5 or not 0 < power < 1:
        raise ConfigError(f"alpha must lie in (0, 0.5) and power in (0, 1), got {alpha}, {power}")
    if abs(true_difference) >= margin:
        raise ConfigError(
            f"a true difference of {true_difference} lies outside the margin +-{margin}: "
            "no number of seeds shows equivalence"
        )
    for n in range(2, MAX_SEEDS + 1):
        if tost_power(n, sd, margin, alpha, true_difference) >= power:
            return n
    raise ConfigError(f"more than {MAX_SEEDS} seeds needed (sd {sd}, margin {margin})")


@dataclass(frozen=True)
class SampleSize:
    """The planned number of seeds for one paired comparison ``a - b``."""

    a: str
    b: str
    seeds_now: int
    sd: float
    seeds_needed: int


def plan_sample_size(
    per_seed: dict[tuple[str, str], Sequence[float]],
    margin: float,
    alpha: float,
    power: float = POWER,
) -> list[SampleSize]:
    """For each comparison's per-seed differences, the seeds its TOST needs at a true
    difference of 0, from the differences' sample standard deviation."""
    plans = []
    for (a, b), diffs in per_seed.items():
        n = len(diffs)
        if n < 3:
            raise ConfigError(
                f"{a} - {b}: {n} seed(s); a standard deviation to plan from needs at least 3"
            )
        mean = sum(diffs) / n
        sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
        plans.append(SampleSize(a, b, n, sd, seeds_for_equivalence(sd, margin, alpha, power)))
    return plans
