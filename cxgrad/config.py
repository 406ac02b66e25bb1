"""One flat, serializable configuration for a meta-training run, and the paper's presets.

A run directory stores its ``TrainConfig`` as ``config.json``; everything a run does is a
function of that file (and the data), which is what makes runs resumable and comparable.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from cxgrad.errors import ConfigError
from cxgrad.meta.config import MetaConfig
from cxgrad.models import Backbone, Conv4Config, ResNet12Config

BACKBONES = ("conv4", "resnet12")
POLARITIES = ("normal", "mixed")

DATASET_CHANNELS = {
    "omniglot": 1,
    "synthetic": 1,
    "miniimagenet": 3,
    "tieredimagenet": 3,
    "cub": 3,
    "cifarfs": 3,
    "fashionmnist": 1,
}


@dataclass(frozen=True)
class TrainConfig:
    """Every option of ``cxgrad train``. Defaults follow the paper's appendix A where it
    has one (alpha 0.01, beta 1.0, eta 0.001, 5 inner steps, 15 queries, Adam)."""

    # task
    method: str = "cxgrad"
    dataset: str = "omniglot"
    ways: int = 5
    shots: int = 1
    queries: int = 15
    # data
    image_size: int = 28
    split: str = "alphabet"
    rotations: bool | None = None
    # model
    backbone: str = "conv4"
    filters: int = 64
    activation: str = "leaky_relu"
    # inner loop
    inner_steps_train: int = 5
    inner_steps_eval: int = 5
    inner_lr: float = 0.01
    first_order: bool = False
    context_dim: int = 100
    context_hidden: int = 100
    context_lr: float = 1.0
    context_scheme: str = "task-wise"
    learned_inner_lr: bool = False
    # task distribution: "mixed" inverts the images of a seeded half of all tasks
    polarity: str = "normal"
    # outer loop
    meta_batch: int = 4
    outer_lr: float = 1e-3
    iterations: int = 2000
    seed: int = 0
    # validation and checkpoints
    val_every: int = 250
    val_tasks: int = 200
    keep_best: int = 5
    task_seed: int = 0
    preset: str | None = None

    def __post_init__(self) -> None:
        if self.dataset not in DATASET_CHANNELS:
            raise ConfigError(
                f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASET_CHANNELS)}"
            )
        positive = (
            "ways",
            "shots",
            "queries",
            "meta_batch",
            "iterations",
            "val_every",
            "val_tasks",
            "keep_best",
            "filters",
            "image_size",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}"
                )
        if self.ways < 2:
            raise ConfigError(
                f"--ways must be at least 2 for a classification task, got {self.ways}"
            )
        for name in ("inner_lr", "outer_lr"):
            if not getattr(self, name) > 0:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be > 0, got {getattr(self, name)}"
                )
        if not self.context_lr >= 0:
            raise ConfigError(
                f"--context-lr must be >= 0 (0 freezes CxGrad's context), got {self.context_lr}"
            )
        if self.polarity not in POLARITIES:
            raise ConfigError(
                f"--polarity must be one of {', '.join(POLARITIES)}, got {self.polarity!r}"
            )
        self.meta_config()  # validates method and context scheme
        self.model_config()

    def model_config(self) -> Backbone:
        """Conv4 (``filters`` per layer) or ResNet-12 (``filters`` channels in the first
        block, doubled per block)."""
        if self.backbone not in BACKBONES:
            raise ConfigError(
                f"unknown backbone {self.backbone!r}; choose one of {', '.join(BACKBONES)}"
            )
        if self.activation not in ("leaky_relu", "relu"):
            raise ConfigError(f"--activation must be leaky_relu or relu, got {self.activation!r}")
        if self.image_size < 16:
            raise ConfigError(
                f"--image-size {self.image_size} is too small for four 2x2 max-pools (need >= 16)"
            )
        common = dict(
            ways=self.ways,
            in_channels=DATASET_CHANNELS[self.dataset],
            image_size=self.image_size,
            activation=self.activation,
        )
        if self.backbone == "resnet12":
            return ResNet12Config(channels=self.filters, **common)
        return Conv4Config(filters=self.filters, **common)

    def meta_config(self) -> MetaConfig:
        return MetaConfig(
            method=self.method,
            inner_steps_train=self.inner_steps_train,
            inner_steps_eval=self.inner_steps_eval,
            inner_lr=self.inner_lr,
            first_order=self.first_order,
            context_dim=self.context_dim,
            context_hidden=self.context_hidden,
            context_lr=self.context_lr,
            context_scheme=self.context_scheme,
            learned_inner_lr=self.learned_inner_lr,
        )

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

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


# Options that define the network and what it computes; a checkpoint can only be loaded
# into a run whose values match. (iterations, validation cadence and so on may differ.)
ARCHITECTURE_KEYS = (
    "backbone",
    "method",
    "dataset",
    "ways",
    "image_size",
    "filters",
    "activation",
    "context_dim",
    "context_hidden",
    "learned_inner_lr",
)
# Options whose change would make a resumed run differ from an uninterrupted one.
TRAJECTORY_KEYS = ARCHITECTURE_KEYS + (
    "shots",
    "queries",
    "split",
    "rotations",
    "inner_steps_train",
    "inner_lr",
    "first_order",
    "context_lr",
    "context_scheme",
    "polarity",
    "meta_batch",
    "outer_lr",
    "seed",
    "val_every",
    "val_tasks",
    "keep_best",
    "task_seed",
)


def _paper(dataset: str, shots: int, **extra: Any) -> dict[str, Any]:
    """The paper's appendix A: Conv4 with 48 filters at 84x84, alpha 0.01, beta 1.0,
    eta 0.001, 5 inner steps, 15 queries, meta-batch 4 (1-shot) or 2 (5-shot), top-5
    validation checkpoints, validation on 600 tasks every 500 iterations (one 'epoch' of
    the ALFA/MAML++ code the authors build on)."""
    base = dict(
        method="cxgrad",
        dataset=dataset,
        ways=5,
        shots=shots,
        queries=15,
        image_size=84,
        filters=48,
        meta_batch=4 if shots == 1 else 2,
        inner_steps_train=5,
        inner_steps_eval=5,
        inner_lr=0.01,
        context_lr=1.0,
        outer_lr=1e-3,
        iterations=50_000 if dataset == "miniimagenet" else 125_000,
        val_every=500,
        val_tasks=600,
        keep_best=5,
    )
    base.update(extra)
    return base


PRESETS: dict[str, dict[str, Any]] = {
    # Table 1
    "miniimagenet-5w1s": _paper("miniimagenet", 1),
    "miniimagenet-5w5s": _paper("miniimagenet", 5),
    "tieredimagenet-5w1s": _paper("tieredimagenet", 1),
    "tieredimagenet-5w5s": _paper("tieredimagenet", 5),
    # Table 3: context update scheme
    "miniimagenet-5w5s-stepwise": _paper("miniimagenet", 5, context_scheme="step-wise"),
    # Table 4: number of inner steps (train and test)
    **{
        f"miniimagenet-5w5s-steps{s}": _paper(
            "miniimagenet", 5, inner_steps_train=s, inner_steps_eval=s
        )
        for s in (1, 2, 3, 4)
    },
    # Table 5: context learning rate beta
    **{
        f"miniimagenet-5w{k}s-beta{b}": _paper("miniimagenet", k, context_lr=b)
        for k in (1, 5)
        for b in (0.01, 0.1)
    },
    # Tables 6 and 7: ResNet-12 (appendix B; 64 channels doubled per block). The appendix
    # gives no other hyperparameters for it, so appendix A's are used.
    **{
        f"{data}-5w{k}s-resnet12": _paper(data, k, backbone="resnet12", filters=64)
        for data in ("miniimagenet", "tieredimagenet")
        for k in (1, 5)
    },
    # Omniglot, sized for a 2-core CPU (the README's result): about 15 minutes per method.
    "omniglot-5w1s-cpu": dict(
        dataset="omniglot",
        ways=5,
        shots=1,
        queries=15,
        image_size=28,
        filters=32,
        meta_batch=4,
        iterations=3000,
        val_every=250,
        val_tasks=200,
        keep_best=5,
    ),
    # Omniglot in the protocol of MAML/MAML++ (1200/423 characters, rotations), paper sizes.
    "omniglot-maml-5w1s": dict(
        dataset="omniglot",
        split="maml",
        ways=5,
        shots=1,
        queries=15,
        image_size=28,
        filters=64,
        meta_batch=8,
        iterations=20_000,
        val_every=500,
        val_tasks=600,
    ),
    "omniglot-maml-20w1s": dict(
        dataset="omniglot",
        split="maml",
        ways=20,
        shots=1,
        queries=15,
        image_size=28,
        filters=64,
        meta_batch=8,
        iterations=20_000,
        val_every=500,
        val_tasks=600,
    ),
    # Fully offline demo on procedurally generated glyphs: seconds on a CPU.
    "synthetic-demo": dict(
        dataset="synthetic",
        ways=5,
        shots=1,
        queries=5,
        image_size=28,
        filters=16,
        meta_batch=2,
        iterations=50,
        val_every=25,
        val_tasks=20,
        keep_best=2,
    ),
}


def preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; available presets: {', '.join(PRESETS)}")
    return dict(PRESETS[name], preset=name)


def build_config(preset_name: str | None = None, **overrides: Any) -> TrainConfig:
    """A preset (if any) with explicit options on top; ``None`` values are ignored."""
    values = preset(preset_name) if preset_name else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(
        values, source=f"preset {preset_name}" if preset_name else "options"
    )
