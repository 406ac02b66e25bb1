"""The files of a run directory and the rules for starting, resuming and reading one.

::

    RUN_DIR/config.json              the TrainConfig (the run is a function of it)
    RUN_DIR/metrics.jsonl            one JSON object per iteration and per validation
    RUN_DIR/checkpoints/last.pt      parameters + optimizer state after the newest step saved
    RUN_DIR/checkpoints/best.json    the k best validation checkpoints, best first
    RUN_DIR/checkpoints/iter-NNNNNN.pt   one file per entry of best.json (and the one a final
                                         validation off the val_every schedule displaced,
                                         kept for an extension of the run: Trainer)
    RUN_DIR/data_root.json           the --data-root the run was trained with, if one was given
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxgrad.errors import ConfigError
from cxgrad.runs._files import atomic_write_text
from cxgrad.runs.config import TrainConfig


@dataclass
class RunDir:
    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.config_path = self.path / "config.json"
        self.metrics_path = self.path / "metrics.jsonl"
        self.data_root_path = self.path / "data_root.json"
        self.checkpoints = self.path / "checkpoints"
        self.last_path = self.checkpoints / "last.pt"
        self.best_index_path = self.checkpoints / "best.json"

    def best_path(self, iteration: int) -> Path:
        return self.checkpoints / f"iter-{iteration:06d}.pt"

    # ------------------------------------------------------------------ config
    def has_run(self) -> bool:
        return self.config_path.exists()

    def read_config(self) -> TrainConfig:
        if not self.has_run():
            raise ConfigError(
                f"{self.path} is not a cxgrad run directory (no config.json); train one with "
                f"`cxgrad train --out {self.path}`"
            )
        return TrainConfig.load(self.config_path)

    def check_start(self, config: TrainConfig, resume: bool) -> None:
        """Refuse to start over another run, or to resume with another trajectory.

        Only ``iterations`` may change on resume (to extend a finished run). Writes nothing.
        """
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"--out {self.path} exists and is not a directory")
        if not self.has_run():
            if resume:
                raise ConfigError(
                    f"--resume given but {self.path} holds no run (no config.json); "
                    "drop --resume to start a new run there"
                )
            if self.path.exists() and any(self.path.iterdir()):
                raise ConfigError(
                    f"--out {self.path} is a non-empty folder that is not a cxgrad run; "
                    "choose a new or empty folder"
                )
            return
        diffs = self.read_config().differences(config, resuming=True)
        if not resume:
            what = "a different run" if diffs else "a run with this configuration"
            raise ConfigError(
                f"--out {self.path} already holds {what}"
                + (":\n  " + "\n  ".join(diffs) if diffs else "")
                + "\nUse --resume to continue it, or choose another --out."
            )
        if diffs:
            raise ConfigError(
                f"cannot resume {self.path} with a different configuration:\n  "
                + "\n  ".join(diffs)
                + "\nOnly --iterations may change when resuming; omit the other options to "
                "reuse the run's own."
            )

    def write_config(self, config: TrainConfig) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        config.save(self.config_path)

    # ------------------------------------------------------------------ data root
    def write_data_root(self, data_root: str | Path) -> None:
        """Remember an explicit ``--data-root`` (absolute), so that ``cxgrad evaluate`` and
        ``--resume`` find the same data without it; a run on the default records nothing."""
        text = json.dumps({"data_root": str(Path(data_root).expanduser().resolve())})
        self.data_root_path.write_text(text + "\n")

    def read_data_root(self) -> Path | None:
        """The recorded ``--data-root`` if it exists on this machine (a run folder copied
        elsewhere falls back to the default data root)."""
        if not self.data_root_path.exists():
            return None
        recorded = Path(json.loads(self.data_root_path.read_text())["data_root"])
        return recorded if recorded.is_dir() else None

    # ------------------------------------------------------------------ metrics
    def append_metrics(self, record: dict[str, Any]) -> None:
        with self.metrics_path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line]

    def validated(self, iteration: int) -> bool:
        """Whether metrics.jsonl holds a validation record of ``iteration``."""
        return any(r["iteration"] == iteration and "val_accuracy" in r for r in self.read_metrics())

    def truncate_metrics(self, iteration: int) -> None:
        """Forget records after ``iteration`` (they will be produced again on resume)."""
        self.rewrite_metrics([r for r in self.read_metrics() if r["iteration"] <= iteration])

    def rewrite_metrics(self, records: list[dict[str, Any]]) -> None:
        """Replace metrics.jsonl by ``records`` (atomically: a stop never leaves half a file)."""
        text = "".join(json.dumps(r) + "\n" for r in records)
        atomic_write_text(self.metrics_path, text)

    # ------------------------------------------------------------------ best-k
    def read_best(self) -> list[dict[str, Any]]:
        if not self.best_index_path.exists():
            return []
        return json.loads(self.best_index_path.read_text())

    def write_best(self, entries: list[dict[str, Any]]) -> None:
        text = json.dumps(entries, indent=2) + "\n"
        atomic_write_text(self.best_index_path, text)
