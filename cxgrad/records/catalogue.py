"""The configurations of record, the sizes they are trained at, and where their records lie."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cxgrad.errors import ConfigError
from cxgrad.evaluation.accuracy import TEST_TASKS
from cxgrad.runs.config import TrainConfig
from cxgrad.runs.presets import omniglot_config

RECORD_ITERATIONS = 500
RECORD_TEST_TASKS = TEST_TASKS  # every record is tested on the same 600 seeded tasks


def checkout() -> Path | None:
    """The clone of the repository this package is imported from (an editable install,
    as in CI, Colab and the book), or None when it is installed from a wheel."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "results").is_dir() else None


# Where the results of record lie: $CXGRAD_RESULTS, else the clone's results/ folder; an
# installed wheel has none (commands then ask for --results, load_records for a folder).
RESULTS_ENV = "CXGRAD_RESULTS"
_CLONE = checkout()
RESULTS_ROOT: Path | None = (
    Path(os.environ[RESULTS_ENV]).expanduser()
    if os.environ.get(RESULTS_ENV)
    else (_CLONE / "results" if _CLONE else None)
)
RESULTS_DIR: Path | None = RESULTS_ROOT / "omniglot-5w1s" if RESULTS_ROOT else None

# A second size: the configurations that decide chapter 11's verdict, trained four times
# longer (same seeds, same test tasks), to see whether what 500 iterations decide still
# holds nearer convergence. ``cxgrad sweep run --iterations 2000 --results`` this folder.
LONG_RECORD_ITERATIONS = 2000
LONG_RESULTS_DIR: Path | None = (
    RESULTS_ROOT / f"omniglot-5w1s-{LONG_RECORD_ITERATIONS}" if RESULTS_ROOT else None
)
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

# The paired comparisons chapter 11 and the README report: (a, b) means a minus b.
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


# The comparisons that decide whether CxGrad's context matters (chapter 11), and the number of
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


def results_folder(results: Path | str | None) -> Path:
    """``results`` as a folder, or the error that says how to name one."""
    if results is None:
        raise ConfigError(
            "no folder of results of record: cxgrad is installed outside a clone of its "
            "repository, whose results/ holds them; pass the folder (--results DIR, or the "
            f"results argument) or set {RESULTS_ENV}=<clone>/results"
        )
    return Path(results)


def record_path(name: str, seed: int, results: Path | None = RESULTS_DIR) -> Path:
    return results_folder(results) / f"{name}-seed{seed}.json"


def load_records(results: Path | None = RESULTS_DIR) -> dict[str, dict[int, dict[str, Any]]]:
    """Every record under ``results``: ``records[name][seed]``."""
    records: dict[str, dict[int, dict[str, Any]]] = {}
    results = results_folder(results)
    if not results.is_dir():
        raise ConfigError(
            f"no results of record at {results}: they come with a clone of the repository "
            "(results/omniglot-5w1s/); pass the folder that holds them, or make them with "
            "cxgrad sweep run"
        )
    for path in sorted(Path(results).glob("*.json")):
        data = json.loads(path.read_text())
        records.setdefault(data["name"], {})[int(data["seed"])] = data
    return records
