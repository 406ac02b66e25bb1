"""One run of record: train a configuration, test it on the fixed test tasks, write its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cxgrad.hardware import cpu_name, kernels
from cxgrad.records.catalogue import (
    CONFIGURATIONS,
    RECORD_ITERATIONS,
    RECORD_TEST_TASKS,
    RESULTS_DIR,
    checkout,
    record_config,
    record_path,
    results_folder,
)
from cxgrad.runs import atomic_write_text
from cxgrad.runs.config import TrainConfig
from cxgrad.runs.runtime import RuntimeOptions

# Records train and test on the CPU, along the task loop: the arithmetic they were made with.
RECORD_RUNTIME = RuntimeOptions(device="cpu", progress=False)


def _git(*args: str) -> str:
    """``git args`` in the clone this package runs from; "unknown" for an installed wheel
    (no git is run inside site-packages) or where git fails."""
    repo = checkout()
    if repo is None:
        return "unknown"
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
    results: Path | None = RESULTS_DIR,
    iterations: int = RECORD_ITERATIONS,
    test_tasks: int = RECORD_TEST_TASKS,
    cross_domain: tuple[str, ...] = (),
    config: TrainConfig | None = None,
    description: str | None = None,
    command: str | None = None,
    runtime: RuntimeOptions = RECORD_RUNTIME,
    **runtime_changes: Any,
) -> Path:
    """Train (or resume) one record run, test it, and write its JSON.

    A run that is already trained is only tested again. ``cross_domain`` names datasets
    whose test split the run is also tested on (chapter 7: ``("fashionmnist",)``); the
    checkpoint is still the one chosen on the run's own validation tasks. ``config``
    (with its ``description`` and the ``command`` that makes it) replaces the record
    configuration ``name``: how ``cxgrad sweep`` runs presets and configurations of a
    sweep file. ``runtime`` (or its fields as keywords) says where to train and test: by
    default on the CPU, without progress bars, along the arithmetic of record."""
    runtime = RuntimeOptions.of(runtime, **runtime_changes)
    results = results_folder(results)  # before training: a wheel has no results folder
    import torch

    from cxgrad.evaluation.run import evaluate_run
    from cxgrad.records.models import keep_record_model
    from cxgrad.runs.directory import RunDir
    from cxgrad.runs.setup import run_device
    from cxgrad.training.trainer import train

    if config is None:
        config = record_config(name, seed, iterations)
        description = CONFIGURATIONS[name][0]
    iterations = config.iterations
    used = run_device(runtime.device)
    runtime = runtime.replace(device=str(used))  # train and test on the same device
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
        train(config, out, resume=run.has_run(), runtime=runtime)
    provenance = json.loads(provenance_path.read_text()) if provenance_path.exists() else {}
    result = evaluate_run(out, tasks=test_tasks, runtime=runtime)
    cross = {
        dataset: evaluate_run(out, tasks=test_tasks, dataset=dataset, runtime=runtime).to_dict(
            include_tasks=True
        )
        for dataset in cross_domain
    }
    # the checkpoint just tested, kept for what chapters 10 to 12 measure on it (models.py)
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
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")  # never half a file
    return path
