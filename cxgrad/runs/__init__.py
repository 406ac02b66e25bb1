"""A run: its configuration, how it runs, the paper's presets, its directory, checkpoints."""

from cxgrad.runs._files import atomic_write_text
from cxgrad.runs.checkpoint import check_compatible, load_checkpoint, save_checkpoint
from cxgrad.runs.config import ARCHITECTURE_KEYS, TrainConfig
from cxgrad.runs.directory import RunDir
from cxgrad.runs.presets import PRESETS, build_config, omniglot_config, preset
from cxgrad.runs.runtime import RuntimeOptions
from cxgrad.runs.setup import build_learner, load_config_dataset, run_device, samplers

__all__ = [
    "ARCHITECTURE_KEYS",
    "PRESETS",
    "RunDir",
    "RuntimeOptions",
    "TrainConfig",
    "atomic_write_text",
    "build_config",
    "build_learner",
    "check_compatible",
    "load_checkpoint",
    "load_config_dataset",
    "omniglot_config",
    "preset",
    "run_device",
    "samplers",
    "save_checkpoint",
]
