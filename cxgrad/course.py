"""Small conveniences for the course notebooks (they never re-implement the library).

``trained_run`` trains a configuration once and reuses it: runs live in a cache keyed by a
hash of the whole configuration, so chapters that need the same model share it, a rerun
of a chapter is fast, and an interrupted training resumes exactly where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from cxgrad.config import TrainConfig
from cxgrad.data import FewShotDataset
from cxgrad.run_dir import RunDir
from cxgrad.train import train

RUNS_ENV = "CXGRAD_RUNS"


def omniglot_config(
    method: str, iterations: int = 300, filters: int = 32, seed: int = 0, **changes
) -> TrainConfig:
    """The course's standard CPU-sized run: Omniglot 5-way 1-shot, alphabet split, 28x28,
    Conv4 with ``filters`` filters, the paper's inner/outer hyperparameters, meta-batch 4,
    validation on 100 fixed tasks four times per run, the 3 best checkpoints kept.
    Chapters that use the same arguments share the trained model."""
    config = TrainConfig(
        method=method,
        dataset="omniglot",
        ways=5,
        shots=1,
        queries=15,
        image_size=28,
        filters=filters,
        meta_batch=4,
        iterations=iterations,
        val_every=max(iterations // 4, 1),
        val_tasks=100,
        keep_best=3,
        seed=seed,
    )
    return config.replace(**changes)


def runs_root() -> Path:
    """``$CXGRAD_RUNS``, else ``~/.cache/cxgrad/runs`` (or under ``$XDG_CACHE_HOME``)."""
    if os.environ.get(RUNS_ENV):
        return Path(os.environ[RUNS_ENV]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser()
    return cache / "cxgrad" / "runs"


def config_key(config: TrainConfig) -> str:
    text = json.dumps(config.to_dict(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def trained_run(
    name: str,
    config: TrainConfig,
    data_root: str | Path | None = None,
    dataset: FewShotDataset | None = None,
    progress: bool = True,
    root: Path | None = None,
) -> Path:
    """The run directory of ``config``, training (or resuming) it first if needed."""
    out = (root or runs_root()) / f"{name}-{config_key(config)}"
    run = RunDir(out)
    finished = run.last_path.exists() and _last_iteration(run) >= config.iterations
    if not finished:
        train(
            config,
            out,
            resume=run.has_run(),
            data_root=data_root,
            dataset=dataset,
            progress=progress,
        )
    return out


def _last_iteration(run: RunDir) -> int:
    records = [r for r in run.read_metrics() if "loss" in r]
    return records[-1]["iteration"] if records else 0


def in_colab() -> bool:
    try:
        import google.colab  # noqa: F401
    except ImportError:
        return False
    return True
