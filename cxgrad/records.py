"""Results of record: CxGrad and its controls trained at a size that resolves them.

The chapters train small models live, a few hundred iterations each, which cannot separate
methods a few points apart. The runs named here are trained once, with several seeds, by
``cxgrad sweep run`` (``cxgrad.sweeps``), and each leaves one JSON file under ``results/``: the
configuration, the commit that trained it, the training curve, and the test accuracy with
both 95% intervals and every test task's accuracy; the model it tested is kept beside it
(``cxgrad.record_models``). All runs are tested on the same seeded
test tasks, so two configurations can be compared task by task (a paired comparison).

Every configuration is the course's standard Omniglot run (``course.omniglot_config``:
5-way 1-shot, alphabet-disjoint split, 28x28, Conv4 with 32 filters, the paper's alpha,
beta and eta, 5 second-order inner steps, meta-batch 4) with one thing changed.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxgrad.config import TrainConfig
from cxgrad.course import omniglot_config
from cxgrad.errors import ConfigError
from cxgrad.hardware import cpu_name, kernels

RECORD_ITERATIONS = 500
RECORD_TEST_TASKS = 600
RESULTS_DIR = Path(__file__).resolve().parents[1] / "results" / "omniglot-5w1s"
# A second size: the configurations that decide chapter 10's verdict, trained four times
# longer (same seeds, same test tasks), to see whether what 500 iterations decide still
# holds nearer convergence. ``cxgrad sweep run --iterations 2000 --results`` this folder.
LONG_RECORD_ITERATIONS = 2000
LONG_RESULTS_DIR = RESULTS_DIR.with_name(f"omniglot-5w1s-{LONG_RECORD_ITERATIONS}")
LONG_CONFIGURATIONS = ("cxgrad", "cxgrad-frozen", "maml-lslr", "maml-alpha0.1")

# name -> (what it is, what changes from the standard run)
COMPARISON: dict[str, tuple[str, dict[str, Any]]] = {
    "maml": ("MAML, alpha = 0.01 (the paper's inner step)", {"method": "maml"}),
    "cxgrad": ("CxGrad as in the paper (beta = 1)", {"method": "cxgrad"}),
    "cxgrad-frozen": (
        "CxGrad with the context frozen: beta = 0, so gamma = g_phi(0) for every task",
        {"method": "cxgrad", "context_lr": 0.0},
    ),
    "igs": (
        "IGS with gamma = 1: each conv weight reset to unit norm before every step",
        {"method": "igs"},
    ),
    "maml-lslr": (
        "MAML with learned per-layer, per-step inner step sizes (MAML++'s LSLR)",
        {"method": "maml", "learned_inner_lr": True},
    ),
    "maml-alpha0.1": (
        "MAML with a larger inner step, alpha = 0.1",
        {"method": "maml", "inner_lr": 0.1},
    ),
}
# More controls, not in the record set: the inner-step sweep and BOIL.
SWEEP: dict[str, tuple[str, dict[str, Any]]] = {
    "maml-alpha0.4": (
        "MAML with alpha = 0.4 (MAML's own Omniglot step)",
        {"method": "maml", "inner_lr": 0.4},
    ),
    "boil": ("BOIL, alpha = 0.01", {"method": "boil"}),
    "boil-alpha0.1": ("BOIL with alpha = 0.1", {"method": "boil", "inner_lr": 0.1}),
    "boil-alpha0.4": ("BOIL with alpha = 0.4", {"method": "boil", "inner_lr": 0.4}),
    "boil-lslr": (
        "BOIL with learned per-layer, per-step inner step sizes",
        {"method": "boil", "learned_inner_lr": True},
    ),
    "cxgrad-mixed": (
        "CxGrad on tasks of which a seeded half have inverted images",
        {"method": "cxgrad", "polarity": "mixed"},
    ),
    "cxgrad-frozen-mixed": (
        "Frozen-context CxGrad on tasks of which a seeded half have inverted images",
        {"method": "cxgrad", "context_lr": 0.0, "polarity": "mixed"},
    ),
}
# Controls in which the inner loop can move the context (chapter 10 shows that in the paper's
# CxGrad its gradient exists only through BatchNorm's eps). Each variant comes with its frozen
# twin (beta = 0: the same network, one context for every task), so that a comparison isolates
# the context from what the variant does to the network, and each runs on the normal and the
# mixed-polarity task distribution, where a context has something to detect.
# key -> (what it is, what changes from CxGrad)
CONTEXT_JOBS: dict[str, tuple[str, dict[str, Any]]] = {
    # Near eps = gamma^2 * var(w_hat * x), the batch variances of the scaled convs, BatchNorm
    # stops hiding the scale of its input: the loss sees gamma, by eps but no longer a trace.
    "eps0.001": ("BatchNorm eps 1e-3", {"bn_eps": 1e-3}),
    "eps0.01": ("BatchNorm eps 1e-2", {"bn_eps": 1e-2}),
    # A gain on the features entering the head, which no BatchNorm follows.
    "head": ("a head gain from the context (--context-gain head)", {"context_gain": "head"}),
}


def _context_job_configurations() -> dict[str, tuple[str, dict[str, Any]]]:
    configurations = {}
    for key, (what, changes) in CONTEXT_JOBS.items():
        for frozen in (False, True):
            for mixed in (False, True):
                name = f"cxgrad-{key}" + "-frozen" * frozen + "-mixed" * mixed
                description = f"CxGrad with {what}"
                if frozen:
                    description += ", context frozen (beta = 0)"
                if mixed:
                    description += ", on tasks of which a seeded half have inverted images"
                configurations[name] = (
                    description,
                    {
                        "method": "cxgrad",
                        **changes,
                        **({"context_lr": 0.0} if frozen else {}),
                        **({"polarity": "mixed"} if mixed else {}),
                    },
                )
    return configurations


SWEEP.update(_context_job_configurations())
CONFIGURATIONS = {**COMPARISON, **SWEEP}
# The paired comparisons chapter 10 and the README report: (a, b) means a minus b.
PAIRS = [
    ("cxgrad", "maml"),
    ("cxgrad", "cxgrad-frozen"),
    ("cxgrad", "igs"),
    ("cxgrad-frozen", "igs"),
    ("cxgrad", "maml-lslr"),
    ("cxgrad", "maml-alpha0.1"),
    ("maml-alpha0.1", "maml"),
    ("maml-lslr", "maml"),
]
# The comparisons of the controls that give the context a job: plain CxGrad against its frozen
# twin on mixed polarity, then each variant against CxGrad and its frozen control; then the
# variant minus CxGrad's frozen control taken apart: what its own context adds (against its
# frozen twin) and what its network adds without a moving context (its frozen twin against
# CxGrad's); and the same on mixed polarity.
CONTEXT_JOB_PAIRS = [("cxgrad-mixed", "cxgrad-frozen-mixed")] + [
    pair
    for key in CONTEXT_JOBS
    for pair in (
        (f"cxgrad-{key}", "cxgrad"),
        (f"cxgrad-{key}", "cxgrad-frozen"),
        (f"cxgrad-{key}", f"cxgrad-{key}-frozen"),
        (f"cxgrad-{key}-frozen", "cxgrad-frozen"),
        (f"cxgrad-{key}-mixed", "cxgrad-mixed"),
        (f"cxgrad-{key}-mixed", f"cxgrad-{key}-frozen-mixed"),
        (f"cxgrad-{key}-frozen-mixed", "cxgrad-frozen-mixed"),
    )
]


# The comparisons that decide whether CxGrad's context matters (chapter 10), and the number of
# seeds of record each of their configurations gets at 500 iterations. The number was fixed
# before the runs, from the spread of the first ten seeds' paired differences: the largest
# sample size that `cxgrad sweep plan` printed (TOST at a 1-point margin, level 0.05, 80% power
# at a true difference of 0; cxgrad - cxgrad-frozen, sd 1.99 points, needed 36). The verdicts
# are read at that size, whatever they are: no seeds are added after it.
DECIDING_PAIRS = [
    ("cxgrad", "cxgrad-frozen"),
    ("cxgrad", "igs"),
    ("cxgrad", "maml-lslr"),
    ("cxgrad-frozen", "igs"),
]
DECIDING_CONFIGURATIONS = tuple(dict.fromkeys(name for pair in DECIDING_PAIRS for name in pair))
PLANNED_SEEDS = 36
PLAN_FROM_SEEDS = range(10)  # the seeds whose spread fixed PLANNED_SEEDS


def record_config(name: str, seed: int, iterations: int = RECORD_ITERATIONS) -> TrainConfig:
    """The configuration of record run ``name`` with ``seed``."""
    if name not in CONFIGURATIONS:
        raise ConfigError(
            f"unknown configuration {name!r}; choose from {', '.join(CONFIGURATIONS)}"
        )
    _, changes = CONFIGURATIONS[name]
    return omniglot_config(iterations=iterations, filters=32, seed=seed, **changes)


def record_path(name: str, seed: int, results: Path = RESULTS_DIR) -> Path:
    return Path(results) / f"{name}-seed{seed}.json"


def _git(*args: str) -> str:
    repo = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def _provenance() -> dict[str, Any]:
    return {
        "commit": _git("rev-parse", "HEAD"),
        "library_changed_since_commit": bool(_git("status", "--porcelain", "cxgrad")),
    }


def run_record(
    name: str,
    seed: int,
    runs: Path,
    results: Path = RESULTS_DIR,
    iterations: int = RECORD_ITERATIONS,
    test_tasks: int = RECORD_TEST_TASKS,
    data_root: str | Path | None = None,
    progress: bool = False,
    cross_domain: tuple[str, ...] = (),
    config: TrainConfig | None = None,
    description: str | None = None,
    command: str | None = None,
    device: str = "cpu",
) -> Path:
    """Train (or resume) one record run, test it, and write its JSON.

    A run that is already trained is only tested again. ``cross_domain`` names datasets
    whose test split the run is also tested on (chapter 7: ``("fashionmnist",)``); the
    checkpoint is still the one chosen on the run's own validation tasks. ``config``
    (with its ``description`` and the ``command`` that makes it) replaces the record
    configuration ``name``: how ``cxgrad sweep`` runs presets and configurations of a
    sweep file. ``device`` is the device to train and test on (``auto``: a GPU if any)."""
    import torch

    from cxgrad.evaluate_run import evaluate_run
    from cxgrad.record_models import keep_record_model
    from cxgrad.run_dir import RunDir
    from cxgrad.run_setup import run_device
    from cxgrad.train import train

    if config is None:
        config = record_config(name, seed, iterations)
        description = CONFIGURATIONS[name][0]
    iterations = config.iterations
    used = run_device(device)
    out = Path(runs) / f"{name}-seed{seed}"
    run = RunDir(out)
    # beside the run directory: cxgrad train refuses a non-empty folder that is no run yet
    provenance_path = Path(runs) / f"{name}-seed{seed}.provenance.json"
    done = [r for r in run.read_metrics() if "loss" in r] if run.has_run() else []
    if not done or done[-1]["iteration"] < config.iterations:
        if not provenance_path.exists():
            # The code that trains the run, written once: resuming or re-testing later at
            # another commit does not change what the record says trained it.
            provenance_path.parent.mkdir(parents=True, exist_ok=True)
            provenance_path.write_text(json.dumps(_provenance()) + "\n")
        train(
            config, out, resume=run.has_run(), data_root=data_root, device=used, progress=progress
        )
    provenance = json.loads(provenance_path.read_text()) if provenance_path.exists() else {}
    result = evaluate_run(
        out, tasks=test_tasks, data_root=data_root, device=used, progress=progress
    )
    cross = {
        dataset: evaluate_run(
            out,
            tasks=test_tasks,
            data_root=data_root,
            device=used,
            progress=progress,
            dataset=dataset,
        ).to_dict(include_tasks=True)
        for dataset in cross_domain
    }
    # the checkpoint just tested, kept for what chapter 10 measures on it (record_models)
    keep_record_model(out, name, seed, results)
    metrics = run.read_metrics()
    steps = [r for r in metrics if "loss" in r]
    record = {
        "name": name,
        "description": description or name,
        "seed": seed,
        "command": command
        or f"cxgrad sweep run --configs {name} --seeds {seed} "
        f"--iterations {iterations} --test-tasks {test_tasks}",
        "config": config.to_dict(),
        # trained by the library at this commit (and whether it had uncommitted changes)
        "commit": provenance.get("commit", "unknown"),
        "library_changed_since_commit": provenance.get("library_changed_since_commit", True),
        "tested_at_commit": _git("rev-parse", "HEAD"),
        "hardware": {
            "device": used.type,
            **({"gpu": torch.cuda.get_device_name(used)} if used.type == "cuda" else {}),
            "cpu": cpu_name(),
            "kernels": kernels(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": sys.version.split()[0],
        },
        "train_seconds": round(sum(r["seconds"] for r in steps), 1),
        "losses": [r["loss"] for r in steps],
        "accuracies": [r["accuracy"] for r in steps],
        "validations": [r for r in metrics if "val_accuracy" in r],
        "best": run.read_best(),
        "test": result.to_dict(include_tasks=True),
        "cross_domain": cross,
        "written": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    path = record_path(name, seed, results)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)  # a reader never sees half a file
    return path


# The drift check: a record's first iterations, retrained, must give the recorded losses up
# to rounding, on any CPU and thread count. Measured by benchmarks/record_drift.py on the
# records' CPU (2026-12-06, AMD EPYC): with 2 threads instead of 1 the first loss (the
# initialization's, before any outer step) moved by at most 3e-7 relative; from the first
# Adam step on, rounding grows like a change of seed (up to 3e-2 by iteration 5, 1e-1 by
# iteration 10). An inner step 1% larger moved the first loss by 2e-3 (maml-lslr) to 1e-2
# (cxgrad), one inner step fewer by 1e-2 to 1e-1. So the first loss is checked tightly and
# the next few only for gross breakage.
DRIFT_ITERATIONS = 5
DRIFT_FIRST_RTOL = 2e-5
DRIFT_LATER_RTOL = 0.15


def retrain_losses(
    name: str,
    seed: int,
    runs: Path,
    iterations: int = DRIFT_ITERATIONS,
    data_root: str | Path | None = None,
    **changes: Any,
) -> list[float]:
    """The training losses of the first ``iterations`` of record run ``name`` with ``seed``,
    retrained on the CPU (``changes`` alter the configuration, to show that they are caught).
    Validation, which does not touch the parameters, runs once on a few tasks."""
    from cxgrad.run_dir import RunDir
    from cxgrad.train import train

    config = record_config(name, seed, iterations).replace(
        val_every=iterations, val_tasks=2, **changes
    )
    changed = "".join(f"-{key}={value}" for key, value in sorted(changes.items()))
    out = Path(runs) / f"{name}-seed{seed}-{iterations}{changed}"
    train(config, out, data_root=data_root, device="cpu", progress=False)
    return [r["loss"] for r in RunDir(out).read_metrics() if "loss" in r]


def drift(
    recorded: Sequence[float],
    fresh: Sequence[float],
    first_rtol: float = DRIFT_FIRST_RTOL,
    later_rtol: float = DRIFT_LATER_RTOL,
) -> list[str]:
    """What differs between recorded and retrained losses beyond rounding (empty: nothing).

    The first loss is checked tightly (no outer step has amplified anything yet), the later
    ones loosely."""
    problems = []
    for i, (old, new) in enumerate(zip(recorded, fresh, strict=False)):
        tolerance = first_rtol if i == 0 else later_rtol
        relative = abs(new - old) / max(abs(old), 1e-12)
        if not relative <= tolerance:  # also catches NaN
            problems.append(
                f"iteration {i + 1}: loss {new!r}, recorded {old!r} "
                f"(relative difference {relative:.2e} > {tolerance:.0e})"
            )
    if len(fresh) < len(recorded):
        problems.append(f"only {len(fresh)} of {len(recorded)} iterations were retrained")
    return problems


def load_records(results: Path = RESULTS_DIR) -> dict[str, dict[int, dict[str, Any]]]:
    """Every record under ``results``: ``records[name][seed]``."""
    records: dict[str, dict[int, dict[str, Any]]] = {}
    if not Path(results).is_dir():
        raise ConfigError(
            f"no results of record at {results}: they come with a clone of the repository "
            "(results/omniglot-5w1s/); pass the folder that holds them, or make them with "
            "cxgrad sweep run"
        )
    for path in sorted(Path(results).glob("*.json")):
        data = json.loads(path.read_text())
        records.setdefault(data["name"], {})[int(data["seed"])] = data
    return records


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

    def equivalence_verdict(self) -> str:
        """ "different" (the 95% interval excludes 0), "equivalent within +-1 point" (TOST),
        both (a real difference smaller than the margin), or "inconclusive": neither test
        decides, and more seeds are needed; never "equal"."""
        margin = f"+-{100 * EQUIVALENCE_MARGIN:g} point"
        if self.resolved and self.equivalent:
            return f"different, but within {margin}"
        if self.resolved:
            return "different"
        if self.equivalent:
            return f"equivalent within {margin}"
        return "inconclusive"

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


def summary_rows(
    records: dict[str, dict[int, dict[str, Any]]], dataset: str | None = None
) -> list[dict[str, Any]]:
    """One row per configuration: mean test accuracy over seeds and its t interval (on
    ``dataset``'s test tasks when given; configurations not tested there are left out)."""
    rows = []
    for name in [n for n in CONFIGURATIONS if n in records]:
        seeds = sorted(records[name])
        if dataset is not None and any(
            dataset not in records[name][s].get("cross_domain", {}) for s in seeds
        ):
            continue
        accs = [_test(records[name][s], dataset)["accuracy"] for s in seeds]
        mean, ci = mean_and_ci95(accs)
        rows.append(
            {
                "name": name,
                "description": CONFIGURATIONS[name][0],
                "seeds": len(accs),
                "accuracy": mean,
                "ci95_seeds": ci,
                "per_seed": accs,
            }
        )
    return rows


def comparable(records: dict[str, dict[int, dict[str, Any]]], a: str, b: str) -> bool:
    """Both configurations have records on two or more shared seeds (an interval over seeds
    needs two)."""
    return a in records and b in records and len(set(records[a]) & set(records[b])) >= 2


def paired_comparisons(
    records: dict[str, dict[int, dict[str, Any]]], pairs: list[tuple[str, str]] = PAIRS
) -> dict[tuple[str, str], Comparison]:
    """The comparisons a - b of ``pairs`` that the records can make (``comparable``), in order."""
    return {(a, b): compare(records, a, b) for a, b in pairs if comparable(records, a, b)}


def markdown_comparisons(
    records: dict[str, dict[int, dict[str, Any]]], pairs: list[tuple[str, str]] = PAIRS
) -> str:
    """The paired comparisons whose configurations share two or more seeds, as a table (an
    empty string where no pair does)."""
    margin = f"{100 * EQUIVALENCE_MARGIN:g}"
    lines = [
        "| comparison | seeds | difference | 95% CI over seeds | paired CI over tasks | "
        f"difference test | TOST p (margin +-{margin} point) | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (a, b), c in paired_comparisons(records, pairs).items():
        lines.append(
            f"| `{a}` - `{b}` | {len(c.seeds)} | {100 * c.difference:+.2f} points | "
            f"+-{100 * c.ci95_seeds:.2f} | +-{100 * c.ci95_tasks:.2f} | {c.verdict()} | "
            f"{c.equivalence_p:.3f} | {c.equivalence_verdict()} |"
        )
    return "\n".join(lines) if len(lines) > 2 else ""


def sample_size_plan(
    records: dict[str, dict[int, dict[str, Any]]],
    pairs: list[tuple[str, str]] = DECIDING_PAIRS,
    seeds: Sequence[int] = PLAN_FROM_SEEDS,
) -> str:
    """The power calculation behind ``PLANNED_SEEDS``, as a table: per comparison the spread of
    its per-seed differences over ``seeds`` and the seeds its TOST needs (``cxgrad.power``)."""
    from cxgrad.power import POWER, plan_sample_size

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


def planned_size_note(records: dict[str, dict[int, dict[str, Any]]]) -> str:
    """How far the deciding configurations are from the planned size of record: their
    verdicts are read at ``PLANNED_SEEDS`` seeds, and an "inconclusive" before that is
    provisional."""
    have = {name: len(records.get(name, {})) for name in DECIDING_CONFIGURATIONS}
    fewest = min(have.values())
    counts = ", ".join(f"{name} {n}" for name, n in have.items())
    if fewest >= PLANNED_SEEDS:
        return (
            f"Planned size of record reached: {PLANNED_SEEDS} seeds of each deciding "
            f"configuration ({counts}); the verdicts above are final at that size."
        )
    return (
        f"Planned size of record: {PLANNED_SEEDS} seeds of each deciding configuration "
        f"(cxgrad sweep plan); these records hold {counts}: the verdicts of the deciding "
        "comparisons are provisional until every one has its planned seeds."
    )


def markdown_table(records: dict[str, dict[int, dict[str, Any]]]) -> str:
    lines = [
        "| configuration | what | seeds | test accuracy (mean) | 95% CI over seeds | per seed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in summary_rows(records):
        per_seed = ", ".join(f"{100 * a:.2f}" for a in row["per_seed"])
        ci = "one seed" if row["seeds"] < 2 else f"+-{100 * row['ci95_seeds']:.2f}"
        lines.append(
            f"| `{row['name']}` | {row['description']} | {row['seeds']} | "
            f"{100 * row['accuracy']:.2f}% | {ci} | {per_seed} |"
        )
    note = hardware_note(records)
    return "\n".join(lines) + (f"\n\n{note}" if note else "")


def hardware_note(records: dict[str, dict[int, dict[str, Any]]], here: str | None = None) -> str:
    """Where the records were made, and whether that is this machine.

    A record retrained on another CPU or with another thread count rounds differently and
    ends at a slightly different model (``drift`` bounds the first iterations), so what the
    records decide must rest on statistics over seeds, never on bit-identical reruns."""
    made = sorted(
        {
            f"{r['hardware']['cpu']}, {r['hardware']['threads']} thread(s), "
            f"torch {r['hardware']['torch']}, "
            f"{r['hardware'].get('kernels', 'CPU kernels not recorded')}"
            for seeds in records.values()
            for r in seeds.values()
            if "hardware" in r
        }
    )
    if not made:
        return ""
    note = f"Records made on {'; '.join(made)}."
    here = here if here is not None else cpu_name()
    if any(not m.startswith(f"{here},") for m in made):
        note += (
            f" This machine is {here}: retrained here, a run would round differently and end "
            "at a slightly different model; the comparisons are statistics over seeds and do "
            "not depend on bit-identical reruns."
        )
    return note
