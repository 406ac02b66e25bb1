"""The trained models of the results of record, kept beside their JSON records.

A record's JSON says how well a run did; chapters 10 to 12 also need the run itself, to measure
what it learned (its context, its inner steps) without retraining it in the book build. So
``run_record`` also keeps the checkpoint it was tested with (the best on validation) as
``results/omniglot-5w1s/models/NAME-seedS.pt``: its parameters and configuration only, no
optimizer state (about 0.1 MB for the Conv4-32 records). ``load_record_model`` reads one
back; ``kept_seeds`` says which seeds of a configuration have one.
"""

from __future__ import annotations

from pathlib import Path

import torch

from cxgrad.errors import ConfigError
from cxgrad.evaluation.run import select_checkpoints
from cxgrad.runs.checkpoint import load_checkpoint, save_checkpoint
from cxgrad.runs.config import TrainConfig
from cxgrad.runs.directory import RunDir

MODELS = "models"


def model_path(name: str, seed: int, results: Path) -> Path:
    return Path(results) / MODELS / f"{name}-seed{seed}.pt"


def keep_record_model(run_dir: Path, name: str, seed: int, results: Path) -> Path:
    """Keep the checkpoint a record was tested with (the run's best on validation)."""
    best = select_checkpoints(RunDir(Path(run_dir)), 1)[0]
    state = load_checkpoint(best)
    path = model_path(name, seed, results)
    save_checkpoint(
        path,
        {
            "params": state["params"],
            "config": state["config"],
            "iteration": state["iteration"],
            "val_accuracy": state.get("val_accuracy"),
        },
    )
    return path


def kept_seeds(name: str, results: Path) -> list[int]:
    """The seeds of configuration ``name`` whose model is kept under ``results``, sorted."""
    seeds = []
    for path in (Path(results) / MODELS).glob(f"{name}-seed*.pt"):
        suffix = path.stem[len(name) + len("-seed") :]
        if suffix.isdigit():
            seeds.append(int(suffix))
    return sorted(seeds)


def load_record_model(
    name: str, seed: int, results: Path
) -> tuple[TrainConfig, dict[str, torch.Tensor]]:
    """The configuration and parameters of record ``name`` with ``seed``."""
    path = model_path(name, seed, results)
    if not path.exists():
        kept = kept_seeds(name, results)
        raise ConfigError(
            f"no kept model of record {name!r} seed {seed} ({path} does not exist); "
            + (
                f"seeds with a model: {', '.join(map(str, kept))}"
                if kept
                else f"train it with cxgrad sweep run --configs {name} --seeds {seed}"
            )
        )
    state = load_checkpoint(path)
    return TrainConfig.from_dict(state["config"], source=str(path)), state["params"]


def nth_kept_model(
    name: str, index: int, results: Path
) -> tuple[int, TrainConfig, dict[str, torch.Tensor]]:
    """The ``index``-th (from 0) kept model of configuration ``name``: its seed,
    configuration and parameters (what the ``SEED`` parameter of chapters 10 to 12 chooses)."""
    seeds = kept_seeds(name, results)
    if index < 0 or index >= len(seeds):
        raise ConfigError(
            f"record {name!r} has {len(seeds)} kept model(s) under {Path(results) / MODELS} "
            f"(seeds {', '.join(map(str, seeds)) or 'none'}), so there is no model number "
            f"{index}; choose 0 to {len(seeds) - 1}, or train more with cxgrad sweep run "
            f"--configs {name}"
            if seeds
            else f"record {name!r} has no kept model under {Path(results) / MODELS}; train it "
            f"with cxgrad sweep run --configs {name}"
        )
    seed = seeds[index]
    config, params = load_record_model(name, seed, results)
    return seed, config, params
