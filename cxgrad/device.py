"""Device choice: CUDA when present, else CPU, unless the user says otherwise."""

from __future__ import annotations

import torch

from cxgrad.errors import ConfigError


def resolve_device(name: str | None = "auto") -> torch.device:
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return device


EXECUTION_PATHS = ("auto", "sequential", "batched")


def use_batched_path(path: str, device: torch.device) -> bool:
    """Whether to compute a meta-batch all at once (batched) or task by task.

    The batched path is ``MetaLearner.meta_batch_loss(batched=True)``: grouped convolutions
    on Conv4, ``vmap`` on other backbones.

    ``auto`` picks what ``benchmarks/throughput.py`` measured to be faster: the batched path
    on a GPU, where a Python loop over tasks leaves the device idle, and the sequential path
    on a CPU, where grouped convolutions are slower than a loop of ordinary ones.
    """
    if path not in EXECUTION_PATHS:
        raise ConfigError(f"--path must be one of {', '.join(EXECUTION_PATHS)}, got {path!r}")
    if path == "auto":
        return device.type == "cuda"
    return path == "batched"
