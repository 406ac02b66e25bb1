"""Checkpoints: written atomically, validated against the run's configuration on load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cxgrad.errors import ConfigError
from cxgrad.runs._files import atomic_write_bytes
from cxgrad.runs.config import ARCHITECTURE_KEYS, TrainConfig

FORMAT_VERSION = 1


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    payload = dict(state, format=FORMAT_VERSION)
    atomic_write_bytes(path, lambda handle: torch.save(payload, handle))


def load_checkpoint(path: Path, config: TrainConfig | None = None) -> dict[str, Any]:
    """Load a checkpoint; if ``config`` is given, refuse one made for another network."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise ConfigError(
            f"checkpoint {path} cannot be read ({type(err).__name__}: {err}); it may be "
            "truncated or not a cxgrad checkpoint"
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise ConfigError(f"{path} is not a cxgrad checkpoint (format {FORMAT_VERSION})")
    if config is not None:
        check_compatible(path, TrainConfig.from_dict(state["config"]), config)
    return state


def check_compatible(path: Path, saved: TrainConfig, wanted: TrainConfig) -> None:
    diffs = [
        f"{key}: checkpoint has {getattr(saved, key)!r}, configuration asks for "
        f"{getattr(wanted, key)!r}"
        for key in ARCHITECTURE_KEYS
        if getattr(saved, key) != getattr(wanted, key)
    ]
    if diffs:
        raise ConfigError(
            f"checkpoint {path} was made for a different configuration:\n  "
            + "\n  ".join(diffs)
            + "\nUse a checkpoint of this run, or change the options to match it."
        )
