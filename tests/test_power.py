"""The sample size of record: TOST's power against simulation, and the plan from the records."""

import math

import numpy as np
import pytest
from scipy.stats import t

from cxgrad.errors import ConfigError
from cxgrad.records import (
    PLANNED_SEEDS,
    load_records,
    plan_sample_size,
    sample_size_plan,
    seeds_for_equivalence,
    tost_power,
)


def simulated_power(n: int, sd: float, margin: float, alpha: float, true: float) -> float:
    rng = np.random.default_rng(0)
    draws = rng.normal(true, sd, size=(20_000, n))
    mean, se = draws.mean(1), draws.std(1, ddof=1) / math.sqrt(n)
    critical = t.ppf(1 - alpha, n - 1)
    return float(np.mean(((mean + margin) / se > critical) & ((margin - mean) / se > critical)))


@pytest.mark.parametrize(("n", "true"), [(20, 0.0), (25, 0.0), (36, 0.0), (36, 0.004), (60, 0.005)])
def test_tost_power_matches_simulated_tosts(n: int, true: float) -> None:
    expected = simulated_power(n, 0.02, 0.01, 0.05, true)
    assert tost_power(n, 0.02, 0.01, 0.05, true) == pytest.approx(expected, abs=0.02)


def test_power_is_conservative_with_few_seeds() -> None:
    # below about 20 seeds the approximation undercounts (10 seeds: 0 against 0.07 simulated)
    assert tost_power(10, 0.02, 0.01, 0.05) <= simulated_power(10, 0.02, 0.01, 0.05, 0.0)


def test_sample_size_is_the_smallest_with_the_power() -> None:
    n = seeds_for_equivalence(0.02, 0.01, 0.05, 0.8)
    assert tost_power(n, 0.02, 0.01, 0.05) >= 0.8 > tost_power(n - 1, 0.02, 0.01, 0.05)
    # the normal approximation ((z_0.95 + z_0.90) * sd / margin)^2 = 34.3, plus the t's tails
    assert n == 36


def test_plan_uses_each_comparisons_spread() -> None:
    diffs = {("a", "b"): [0.0, 0.02, -0.02, 0.01], ("a", "c"): [0.0, 0.001, -0.001, 0.0]}
    big, small = plan_sample_size(diffs, 0.01, 0.05)
    assert big.seeds_needed > small.seeds_needed >= 2
    assert big.sd == pytest.approx(np.std(diffs[("a", "b")], ddof=1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sd": 0.0}, "standard deviation"),
        ({"margin": -1.0}, "margin"),
        ({"alpha": 0.7}, "alpha"),
        ({"true_difference": 0.02}, "outside the margin"),
    ],
)
def test_bad_inputs_are_refused(kwargs: dict, message: str) -> None:
    args = {"sd": 0.02, "margin": 0.01, "alpha": 0.05, **kwargs}
    with pytest.raises(ConfigError, match=message):
        seeds_for_equivalence(**args)


def test_too_few_seeds_to_plan_from() -> None:
    with pytest.raises(ConfigError, match="at least 3"):
        plan_sample_size({("a", "b"): [0.0, 0.01]}, 0.01, 0.05)


def test_the_records_plan_gives_the_planned_size() -> None:
    table = sample_size_plan(load_records())
    assert f"largest: {PLANNED_SEEDS} seeds" in table


def test_the_table_says_how_far_the_records_are_from_the_planned_size() -> None:
    from cxgrad.records import DECIDING_CONFIGURATIONS, planned_size_note

    records = {name: dict.fromkeys(range(10), {}) for name in DECIDING_CONFIGURATIONS}
    assert "provisional" in planned_size_note(records) and "cxgrad 10" in planned_size_note(records)
    full = {name: dict.fromkeys(range(PLANNED_SEEDS), {}) for name in DECIDING_CONFIGURATIONS}
    assert planned_size_note(full).startswith("Planned size of record reached: 36 seeds")


def test_cxgrad_sweep_plan_prints_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    from cxgrad.cli import main

    assert main(["sweep", "plan"]) == 0
    out = capsys.readouterr().out
    assert "| `cxgrad` - `cxgrad-frozen` | 10 |" in out and f"{PLANNED_SEEDS} seeds" in out
