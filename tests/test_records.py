"""Results of record: they match the code that made them, and comparisons are right."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from scipy.stats import t as t_dist

from cxgrad.errors import ConfigError
from cxgrad.records import (
    COMPARISON,
    CONFIGURATIONS,
    CONTEXT_JOB_PAIRS,
    DRIFT_ITERATIONS,
    DRIFT_LATER_RTOL,
    EQUIVALENCE_MARGIN,
    LONG_CONFIGURATIONS,
    LONG_RECORD_ITERATIONS,
    LONG_RESULTS_DIR,
    PAIRS,
    RESULTS_DIR,
    Comparison,
    comparable,
    compare,
    drift,
    hardware_note,
    load_record_model,
    load_records,
    markdown_comparisons,
    markdown_table,
    mean_and_ci95,
    paired_comparisons,
    record_config,
    retrain_losses,
    summary_rows,
)
from cxgrad.runs import TrainConfig

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_configuration_of_the_comparison_has_ten_seeds_of_record():
    records = load_records(RESULTS_DIR)
    for name in COMPARISON:
        assert len(records.get(name, {})) >= 10, f"{name}: run cxgrad sweep run"
    for name in records:
        assert name in CONFIGURATIONS, f"{name}: a record of no configuration"
        for seed, record in records[name].items():
            # read as a configuration: an option added after the record was made has the
            # default the record ran with
            assert TrainConfig.from_dict(record["config"]) == record_config(
                name, seed, record["config"]["iterations"]
            )
            assert len(record["test"]["task_accuracies"]) == record["test"]["tasks"] == 600
            assert not record["library_changed_since_commit"], f"{name} seed {seed}"


def test_the_longer_records_are_the_deciding_configurations_at_2000_iterations():
    records = load_records(LONG_RESULTS_DIR)
    assert set(records) <= set(LONG_CONFIGURATIONS), set(records) - set(LONG_CONFIGURATIONS)
    for name, seeds in records.items():
        for seed, record in seeds.items():
            assert TrainConfig.from_dict(record["config"]) == record_config(
                name, seed, LONG_RECORD_ITERATIONS
            )
            assert len(record["test"]["task_accuracies"]) == 600
            assert not record["library_changed_since_commit"], f"{name} seed {seed}"


@pytest.mark.parametrize("results", [RESULTS_DIR, LONG_RESULTS_DIR], ids=["500", "2000"])
def test_every_kept_model_is_the_one_its_record_tested(results):
    records = load_records(results)
    kept = sorted((results / "models").glob("*.pt"))
    assert kept, "no kept models: cxgrad sweep run keeps them"
    for path in kept:
        name, seed = path.stem.rsplit("-seed", 1)
        config, _ = load_record_model(name, int(seed), results)
        record = records[name][int(seed)]
        assert config.to_dict() == TrainConfig.from_dict(record["config"]).to_dict()
        state = torch.load(path, weights_only=True)
        assert state["iteration"] == record["best"][0]["iteration"]


def test_the_readme_shows_the_records_as_they_are():
    """The README's tables are `cxgrad sweep table`'s, for the records in the repository."""
    readme = README.read_text()
    records = load_records(RESULTS_DIR)
    table = markdown_table(records).split("\n\n")[0]  # without the note on this machine
    assert table in readme, "README: paste the tables of `cxgrad sweep table`"
    assert markdown_comparisons(records, PAIRS) in readme
    assert markdown_comparisons(records, CONTEXT_JOB_PAIRS) in readme  # "" without pairs
    longer = load_records(LONG_RESULTS_DIR)
    assert markdown_table(longer).split("\n\n")[0] in readme, "README: the 2,000-iteration table"
    assert markdown_comparisons(longer, PAIRS) in readme


@pytest.mark.integration
@pytest.mark.parametrize("threads", [1, 2])
def test_a_record_run_still_trains_as_recorded(omniglot_root, tmp_path, threads):
    """Retrain the first iterations of two record runs: their losses must be the recorded
    ones up to rounding, with any thread count on any CPU (``records.drift``), so a change of
    the code that would change the records cannot go unnoticed."""
    records = load_records(RESULTS_DIR)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for name in ("cxgrad", "maml-lslr"):
            seed = min(records[name])
            fresh = retrain_losses(name, seed, tmp_path / name, data_root=omniglot_root)
            recorded = records[name][seed]["losses"][:DRIFT_ITERATIONS]
            assert len(fresh) == DRIFT_ITERATIONS
            problems = drift(recorded, fresh)
            assert not problems, (
                f"{name} seed {seed} no longer trains as recorded ({threads} thread(s)): "
                + "; ".join(problems)
                + ". If the change is intended, re-run cxgrad sweep run"
            )
    finally:
        torch.set_num_threads(previous)


@pytest.mark.integration
@pytest.mark.parametrize(
    "change",
    [{"inner_lr": 0.01 * 1.01}, {"inner_steps_train": 4}],
    ids=["inner step size 1% larger", "one inner step fewer"],
)
def test_the_drift_check_catches_a_real_change(omniglot_root, tmp_path, change):
    """The changes that rounding must not hide: the first iteration, computed before any
    outer step could amplify rounding, already moves far beyond the tight tolerance."""
    records = load_records(RESULTS_DIR)
    assert record_config("cxgrad", 0).inner_lr == 0.01
    fresh = retrain_losses("cxgrad", 0, tmp_path, iterations=1, data_root=omniglot_root, **change)
    problems = drift(records["cxgrad"][0]["losses"][:1], fresh)
    assert problems and problems[0].startswith("iteration 1:")


def test_drift_tolerances():
    recorded = [1.0, 1.0, 1.0]
    assert drift(recorded, [1.0 + 1e-6, 1.05, 0.95]) == []
    assert drift(recorded, [1.0 + 1e-4, 1.0, 1.0])[0].startswith("iteration 1: loss")
    later = drift(recorded, [1.0, 1.0 + 2 * DRIFT_LATER_RTOL, 1.0])
    assert len(later) == 1 and later[0].startswith("iteration 2:")
    assert drift(recorded, [1.0, float("nan"), 1.0])  # NaN is never within a tolerance
    assert drift(recorded, [1.0, 1.0]) == ["only 2 of 3 iterations were retrained"]


def test_the_records_table_says_where_they_were_made():
    records = {"maml": {0: {"hardware": {"cpu": "AMD EPYC", "threads": 1, "torch": "2.14.1"}}}}
    assert hardware_note(records, here="AMD EPYC") == (
        "Records made on AMD EPYC, 1 thread(s), torch 2.14.1, CPU kernels not recorded."
    )
    records["maml"][1] = {
        "hardware": {"cpu": "AMD EPYC", "threads": 1, "torch": "2.14.1", "kernels": "ATen AVX2"}
    }
    assert "torch 2.14.1, ATen AVX2; AMD EPYC" in hardware_note(records, here="AMD EPYC")
    elsewhere = hardware_note(records, here="Intel Xeon")
    assert "This machine is Intel Xeon" in elsewhere and "bit-identical" in elsewhere
    assert hardware_note({"maml": {0: {}}}) == ""


def _records(per_task: dict[str, dict[int, list[float]]]) -> dict:
    return {
        name: {
            seed: {"test": {"task_accuracies": accs, "accuracy": sum(accs) / len(accs)}}
            for seed, accs in seeds.items()
        }
        for name, seeds in per_task.items()
    }


def test_paired_comparison_over_seeds_and_tasks():
    records = _records(
        {
            "cxgrad": {0: [1.0, 0.8], 1: [0.9, 0.9], 2: [0.7, 0.9]},
            "maml": {0: [0.8, 0.6], 1: [0.8, 0.7], 2: [0.6, 0.6]},
        }
    )
    result = compare(records, "cxgrad", "maml")
    assert result.per_seed == pytest.approx([0.2, 0.15, 0.2])
    assert result.difference == pytest.approx(0.55 / 3)
    sd = math.sqrt(sum((d - 0.55 / 3) ** 2 for d in (0.2, 0.15, 0.2)) / 2)
    assert result.ci95_seeds == pytest.approx(4.302652729911275 * sd / math.sqrt(3))
    pooled = [0.2, 0.2, 0.1, 0.2, 0.1, 0.3]
    mean = sum(pooled) / 6
    sd_pooled = math.sqrt(sum((d - mean) ** 2 for d in pooled) / 5)
    assert result.ci95_tasks == pytest.approx(1.96 * sd_pooled / math.sqrt(6))
    assert result.resolved and result.verdict() == "cxgrad better"
    assert "not resolved" in compare(records, "cxgrad", "cxgrad").verdict()


def _comparison(per_seed: list[float]) -> Comparison:
    mean = sum(per_seed) / len(per_seed)
    seeds = list(range(len(per_seed)))
    return Comparison("a", "b", mean, mean_and_ci95(per_seed)[1], 0.0, seeds, per_seed)


def test_equivalence_is_two_one_sided_t_tests_against_one_point():
    """TOST at level 0.05 with the margin of 1 point: the p-value is the larger one-sided
    p-value, and equivalence is exactly "the 90% t interval lies inside +-1 point"."""
    assert EQUIVALENCE_MARGIN == 0.01
    per_seed = [0.002, -0.001, 0.003, 0.0, 0.001, -0.002, 0.002, 0.001, 0.0, 0.001]
    c = _comparison(per_seed)
    n, mean = len(per_seed), c.difference
    sd = math.sqrt(sum((d - mean) ** 2 for d in per_seed) / (n - 1))
    se = sd / math.sqrt(n)
    expected = max(t_dist.sf((mean + 0.01) / se, n - 1), t_dist.cdf((mean - 0.01) / se, n - 1))
    assert c.equivalence_p == pytest.approx(expected)
    half90 = t_dist.ppf(0.95, n - 1) * se
    assert c.equivalent == (mean - half90 > -0.01 and mean + half90 < 0.01)
    assert c.equivalent and c.equivalence_verdict() == "equivalent within +-1 point"


@pytest.mark.parametrize(
    ("per_seed", "verdict"),
    [
        # A large difference, tightly measured.
        ([0.10, 0.11, 0.12, 0.10, 0.11], "different"),
        # A real difference smaller than the margin.
        ([0.004, 0.005, 0.004, 0.005, 0.004, 0.005], "different, but within +-1 point"),
        # Small mean, but seeds too spread to decide either way: never "equal".
        ([0.05, -0.06, 0.04, -0.03], "not distinguishable here (95% CI -8.52 to +8.52 points)"),
        # Two seeds only: the interval is wide.
        ([0.002, -0.003], "not distinguishable here (95% CI -3.23 to +3.13 points)"),
    ],
)
def test_equivalence_verdicts(per_seed, verdict):
    comparison = _comparison(per_seed)
    assert comparison.equivalence_verdict() == verdict
    assert comparison.undecided == verdict.startswith("not distinguishable")


def test_the_table_prints_both_tests():
    records = _records(
        {
            "cxgrad": {0: [1.0, 0.8], 1: [0.9, 0.9], 2: [0.7, 0.9]},
            "maml": {0: [0.8, 0.6], 1: [0.8, 0.7], 2: [0.6, 0.6]},
        }
    )
    table = markdown_comparisons(records, pairs=[("cxgrad", "maml")])
    assert "TOST p (margin +-1 point)" in table and "difference test" in table
    row = table.splitlines()[-1]
    assert "cxgrad better" in row and row.rstrip(" |").endswith("different")


def test_mean_and_t_interval_over_seeds():
    """Student's t with n - 1 degrees of freedom: 4.303 for 3 values, 12.706 for 2."""
    mean, half = mean_and_ci95([0.2, 0.15, 0.2])
    sd = math.sqrt(sum((d - 0.55 / 3) ** 2 for d in (0.2, 0.15, 0.2)) / 2)
    assert mean == pytest.approx(0.55 / 3)
    assert half == pytest.approx(4.302652729911275 * sd / math.sqrt(3))
    assert mean_and_ci95([1.0, 3.0])[1] == pytest.approx(12.706204736174698)  # sd sqrt(2)
    single = mean_and_ci95([0.7])
    assert single[0] == 0.7 and math.isnan(single[1])


def test_comparison_refuses_what_it_cannot_compare():
    records = _records({"cxgrad": {0: [1.0]}, "maml": {0: [0.5], 1: [0.5]}})
    with pytest.raises(ConfigError, match="2 or more"):
        compare(records, "cxgrad", "maml")
    with pytest.raises(ConfigError, match="cxgrad sweep run --configs igs"):
        compare(records, "cxgrad", "igs")
    uneven = _records({"a": {0: [1.0], 1: [1.0]}, "b": {0: [1.0, 0.0], 1: [1.0]}})
    with pytest.raises(ConfigError, match="different task counts"):
        compare(uneven, "a", "b")


def test_summary_and_table():
    records = _records({"maml": {0: [0.5, 0.7], 1: [0.7, 0.7]}, "cxgrad": {3: [0.9, 0.9]}})
    rows = {row["name"]: row for row in summary_rows(records)}
    assert rows["maml"]["accuracy"] == pytest.approx(0.65)
    assert rows["maml"]["seeds"] == 2 and math.isnan(rows["cxgrad"]["ci95_seeds"])
    table = markdown_table(records)
    assert "| `maml` |" in table and "65.00%" in table
    assert "| 90.00% | one seed | 90.00 |" in table  # no interval from one seed
    assert markdown_comparisons(records, pairs=[("cxgrad", "maml")]) == ""  # no shared seeds


def test_paired_comparisons_keep_the_pairs_the_records_can_make_in_order():
    records = _records(
        {
            "a": {0: [0.9], 1: [0.8], 2: [0.7]},
            "b": {0: [0.5], 1: [0.6]},
            "c": {2: [0.4]},
        }
    )
    pairs = [("a", "c"), ("b", "a"), ("a", "missing"), ("a", "b")]
    made = paired_comparisons(records, pairs)
    assert list(made) == [("b", "a"), ("a", "b")]  # c shares one seed with a; none missing
    assert made[("a", "b")].seeds == compare(records, "a", "b").seeds == [0, 1]
    assert not comparable(records, "a", "c") and comparable(records, "b", "a")


def test_unknown_configuration_is_refused():
    with pytest.raises(ConfigError, match="unknown configuration 'mamll'"):
        record_config("mamll", 0)


def test_cross_domain_comparison_reads_the_other_dataset():
    records = _records({"cxgrad": {0: [1.0], 1: [1.0]}, "maml": {0: [0.0], 1: [0.0]}})
    for name, acc in (("cxgrad", 0.5), ("maml", 0.25)):
        for seed in (0, 1):
            records[name][seed]["cross_domain"] = {
                "fashionmnist": {"task_accuracies": [acc], "accuracy": acc}
            }
    assert compare(records, "cxgrad", "maml").difference == pytest.approx(1.0)
    cross = compare(records, "cxgrad", "maml", dataset="fashionmnist")
    assert cross.difference == pytest.approx(0.25)
    rows = summary_rows(records, dataset="fashionmnist")
    assert [(r["name"], r["accuracy"]) for r in rows] == [("maml", 0.25), ("cxgrad", 0.5)]
    del records["maml"][1]["cross_domain"]
    with pytest.raises(ConfigError, match="--cross-domain fashionmnist"):
        compare(records, "cxgrad", "maml", dataset="fashionmnist")
    assert [r["name"] for r in summary_rows(records, dataset="fashionmnist")] == ["cxgrad"]


def test_a_missing_results_folder_is_named(tmp_path):
    with pytest.raises(ConfigError, match="no results of record at .*cxgrad sweep run"):
        load_records(tmp_path / "nowhere")


def test_an_installed_wheel_asks_for_the_results_folder(monkeypatch, tmp_path):
    import cxgrad.records.catalogue as catalogue
    import cxgrad.records.run as run

    with pytest.raises(ConfigError, match="pass the folder .*--results DIR.*CXGRAD_RESULTS"):
        catalogue.load_records(None)
    with pytest.raises(ConfigError, match="--results DIR"):
        catalogue.record_path("cxgrad", 0, None)
    with pytest.raises(ConfigError, match="--results DIR"):
        run.run_record("cxgrad", 0, tmp_path / "runs", results=None)
    # no git is run outside a clone
    monkeypatch.setattr(catalogue, "checkout", lambda: None)
    monkeypatch.setattr(run, "checkout", lambda: None)
    monkeypatch.setattr(run.subprocess, "run", lambda *a, **k: pytest.fail("git was run"))
    assert run._git("rev-parse", "HEAD") == "unknown"


@pytest.mark.integration
def test_the_results_folder_comes_from_the_environment(tmp_path):
    code = (
        "from cxgrad.records import RESULTS_DIR, LONG_RESULTS_DIR; "
        "print(RESULTS_DIR); print(LONG_RESULTS_DIR)"
    )
    env = {**os.environ, "CXGRAD_RESULTS": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [str(tmp_path / "omniglot-5w1s"), str(tmp_path / "omniglot-5w1s-2000")]
