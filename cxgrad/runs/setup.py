"""What training and evaluation both build from a run's configuration: the learner, the
dataset, the device and the seeded task samplers of the splits they use.

Only the splits asked for are sampled and moved to a GPU: evaluation needs one split, and
an unused split (too small for the run's ways, or gigabytes of training images) must
neither fail nor occupy the device.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

from cxgrad.data import ClassImages, EpisodeSampler, FewShotDataset, load_dataset
from cxgrad.data.base import SPLITS
from cxgrad.device import resolve_device
from cxgrad.errors import ConfigError, DataError
from cxgrad.meta.learner import MetaLearner
from cxgrad.runs.config import TrainConfig


def build_learner(config: TrainConfig) -> MetaLearner:
    return MetaLearner(config.model_config(), config.meta_config())


def load_config_dataset(
    config: TrainConfig, data_root: str | Path | None, progress: bool = True
) -> FewShotDataset:
    """The run's dataset at its image size (Omniglot with its split and rotations)."""
    options = {"progress": progress}
    if config.dataset == "omniglot":
        options.update(split=config.split, rotations=config.rotations)
    return load_dataset(config.dataset, data_root, image_size=config.image_size, **options)


def check_image_shape(config: TrainConfig, dataset: FewShotDataset) -> None:
    model = config.model_config()
    expected = (model.in_channels, config.image_size, config.image_size)
    if tuple(dataset.image_shape) != expected:
        raise DataError(
            f"dataset {dataset.name!r} has images of shape {tuple(dataset.image_shape)}, but "
            f"the configuration expects {expected}; check --image-size"
        )


def run_device(name: str | None) -> torch.device:
    """``resolve_device``, and a CUDA index this machine has (checked before a run writes
    anything, so that a typo does not leave a run folder behind)."""
    device = resolve_device(name)
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            raise ConfigError(
                f"--device {name}: this machine has {count} CUDA device(s), cuda:0 to "
                f"cuda:{count - 1}; choose one of those"
            )
    return device


def on_device(classes: ClassImages, device: torch.device | None) -> ClassImages:
    """Move a split's uint8 images to the GPU when they take at most a quarter of its free
    memory (tieredImageNet's training split is about 10 GB at 84x84): episodes are then
    assembled on the device. Otherwise they stay in host memory and only episodes move."""
    if device is None or device.type != "cuda":
        return classes
    free, _ = torch.cuda.mem_get_info(device)
    size = classes.images.numel() * classes.images.element_size()
    return classes.to(device) if size <= free // 4 else classes


def samplers(
    config: TrainConfig,
    dataset: FewShotDataset,
    device: torch.device | None = None,
    splits: Iterable[str] = SPLITS,
) -> dict[str, EpisodeSampler]:
    """Seeded task samplers of ``splits``. Training tasks follow the run's seed;
    validation and test tasks use ``task_seed``, so every run (any method, any seed) is
    validated and tested on the same tasks.

    On a GPU each split's uint8 images move to it once, and episodes are assembled there.
    """
    return {
        split: EpisodeSampler(
            on_device(dataset.split(split), device),
            config.ways,
            config.shots,
            config.queries,
            seed=config.seed if split == "train" else config.task_seed,
            split_name=split,
            polarity=config.polarity,
        )
        for split in splits
    }
