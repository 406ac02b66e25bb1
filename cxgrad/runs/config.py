"""One flat, serializable configuration for a meta-training run.

A run directory stores its ``TrainConfig`` as ``config.json``; everything a run does is a
function of that file (and the data), which is what makes runs resumable and comparable.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from cxgrad.data.omniglot import SPLITS as OMNIGLOT_SPLITS
from cxgrad.data.registry import DATASETS, get_spec
from cxgrad.errors import ConfigError
from cxgrad.meta.config import MetaConfig
from cxgrad.models import Backbone, Conv4Config, ResNet12Config
from cxgrad.models.conv4 import ACTIVATIONS
from cxgrad.options import check_choices, check_minimums, flag, network_option, option, options

BACKBONES = ("conv4", "resnet12")
POLARITIES = ("normal", "mixed")
_INNER = {f.name: f for f in fields(MetaConfig)}


@dataclass(frozen=True)
class TrainConfig(MetaConfig):
    """Every option of ``cxgrad train``: the inner-loop ones of ``MetaConfig`` and those
    below. Defaults follow the paper's appendix A where it has one (alpha 0.01, beta 1.0,
    eta 0.001, 5 inner steps, 15 queries, Adam). ``image_size=None`` means the dataset's
    natural size (its ``DatasetSpec.image_size``), filled in on construction."""

    # The library's learner defaults to MAML; a training run to the paper's method.
    method: str = dataclasses.field(default="cxgrad", metadata=_INNER["method"].metadata)
    # task
    dataset: str = network_option(
        "omniglot", "dataset to meta-train on", choices=lambda: tuple(DATASETS)
    )
    ways: int = network_option(5, "N: classes per task", minimum=2)
    shots: int = option(1, "K: support images per class", minimum=1)
    queries: int = option(15, "query images per class", minimum=1)
    # data
    image_size: int | None = network_option(
        None,
        "images are resized to SIZE x SIZE (default: the dataset's natural size, "
        + ", ".join(f"{name} {spec.image_size}" for name, spec in DATASETS.items())
        + ")",
    )
    split: str = option(
        "alphabet",
        "Omniglot split: alphabet-disjoint or the MAML 1200/423 protocol (Omniglot only)",
        choices=OMNIGLOT_SPLITS,
    )
    rotations: bool | None = option(
        None,
        "Omniglot: add 90/180/270-degree rotations as classes (default: with --split maml "
        "only; Omniglot only)",
    )
    # model
    backbone: str = network_option(
        "conv4",
        "conv4 or resnet12 (appendix B; --filters is its first width)",
        choices=BACKBONES,
    )
    filters: int = network_option(64, "Conv4 filters per layer (paper: 48 at 84x84)", minimum=1)
    activation: str = network_option(
        "leaky_relu", "leaky_relu (authors' code) or relu (paper text)", choices=ACTIVATIONS
    )
    bn_eps: float = network_option(
        1e-5,
        "BatchNorm's eps, added to each batch variance. Eq. 4's scale invariance holds only "
        "up to eps: with eps near gamma^2 times the variance of a scaled conv's output "
        "(records: 1e-3, 1e-2) the support loss sees CxGrad's gamma, so the context moves",
    )
    # task distribution: "mixed" inverts the images of a seeded half of all tasks
    polarity: str = option(
        "normal",
        "task distribution: normal, or mixed (a seeded half of all tasks have inverted "
        "images; chapter 10's test of whether the context detects the task)",
        choices=POLARITIES,
    )
    # outer loop
    meta_batch: int = option(
        4, "tasks per outer update (paper: 4 for 1-shot, 2 for 5-shot)", minimum=1
    )
    outer_lr: float = option(1e-3, "eta, Adam's learning rate")
    iterations: int = option(
        2000, "outer-loop iterations (meta-batches)", minimum=1, may_change_on_resume=True
    )
    seed: int = option(0, "seed of the initialization and of the training tasks", minimum=0)
    # validation and checkpoints
    val_every: int = option(250, "validate (and checkpoint) every N iterations", minimum=1)
    val_tasks: int = option(200, "number of fixed validation tasks", minimum=1)
    keep_best: int = option(5, "keep the K best validation checkpoints", minimum=1)
    task_seed: int = option(0, "seed of the validation and test tasks", minimum=0)
    preset: str | None = option(
        None,
        "a configuration from the paper; options given beside it override its values",
        choices=lambda: _preset_names(),
    )

    def __post_init__(self) -> None:
        check_choices(self, ConfigError)  # dataset, split, backbone, activation, polarity, ...
        spec = DATASETS[self.dataset]
        if self.image_size is None:
            object.__setattr__(self, "image_size", spec.image_size)
        check_minimums(self, ConfigError)
        for name in ("inner_lr", "outer_lr"):
            if not getattr(self, name) > 0:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be > 0, got {getattr(self, name)}"
                )
        if not (self.bn_eps > 0 and math.isfinite(self.bn_eps)):
            raise ConfigError(
                f"--bn-eps must be a finite number > 0, got {self.bn_eps} (BatchNorm divides "
                "by sqrt(variance + eps); for a negligible eps give 1e-30, not 0)"
            )
        if self.dataset != "omniglot":
            # Only Omniglot's loader has these options; refused rather than stored unused.
            defaults = {f.name: f.default for f in fields(self)}
            for name in ("split", "rotations"):
                if getattr(self, name) != defaults[name]:
                    raise ConfigError(
                        f"--{name} is an Omniglot option; --dataset {self.dataset} has no "
                        f"such choice (got {name}={getattr(self, name)!r}): drop it"
                    )
        super().__post_init__()  # method, context scheme, LSLR
        self.model_config()

    def model_config(self) -> Backbone:
        """Conv4 (``filters`` per layer) or ResNet-12 (``filters`` channels in the first
        block, doubled per block)."""
        if self.image_size < 16:
            raise ConfigError(
                f"--image-size {self.image_size} is too small for four 2x2 max-pools (need >= 16)"
            )
        common = dict(
            ways=self.ways,
            in_channels=get_spec(self.dataset).channels,
            image_size=self.image_size,
            activation=self.activation,
            bn_eps=self.bn_eps,
        )
        if self.backbone == "resnet12":
            return ResNet12Config(channels=self.filters, **common)
        return Conv4Config(filters=self.filters, **common)

    def meta_config(self) -> MetaConfig:
        """The inner-loop options alone, as the learner takes them."""
        return MetaConfig(**{name: getattr(self, name) for name in _INNER})

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def differences(self, other: TrainConfig, *, resuming: bool = False) -> list[str]:
        """One line per option whose value differs, named by its command-line flag;
        ``resuming`` leaves out the options a resumed run may change."""
        return [
            f"{flag(f)}: run has {getattr(self, f.name)!r}, you asked for "
            f"{getattr(other, f.name)!r}"
            for f in options(TrainConfig)
            if getattr(self, f.name) != getattr(other, f.name)
            and not (resuming and f.metadata["may_change_on_resume"])
        ]

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown option(s) {unknown}; known: {sorted(known)}")
        return cls(**data)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"cannot read run configuration {path}: {err}") from err
        return cls.from_dict(data, source=str(path))


def _preset_names() -> list[str]:
    from cxgrad.runs.presets import PRESETS  # presets.py builds on this module

    return sorted(PRESETS)


# Options that define the network and what it computes; a checkpoint can only be loaded
# into a run whose values match.
ARCHITECTURE_KEYS = tuple(f.name for f in options(TrainConfig) if f.metadata["architecture"])
