"""Datasets by name, so the CLI and configs can say ``--dataset omniglot``.

Loaders are imported lazily: the registry is imported by every loader (for ``DataCheck``),
and listing the names should not pay for decoding libraries it does not need.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass

from cxgrad.data.base import FewShotDataset
from cxgrad.errors import ConfigError


@dataclass(frozen=True)
class DataCheck:
    """Result of checking a dataset on disk: ``ok`` and a human-readable report."""

    ok: bool
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class DatasetSpec:
    """One known dataset: where its loader lives and what its images look like.

    ``channels`` and ``image_size`` (the natural side length, in pixels) are what a model
    for the dataset is built for. ``test_only`` marks a dataset whose splits share their
    classes (Fashion-MNIST's ten), which can only test a model trained elsewhere: training
    on it would show the test classes during meta-training.
    """

    name: str
    description: str
    module: str
    loader: str
    checker: str | None
    channels: int
    image_size: int
    test_only: bool = False

    def function(self, attribute: str | None) -> Callable:
        """The named function of the dataset's module, imported on first use."""
        if attribute is None:
            raise ConfigError(f"dataset {self.name} has no such function")
        return getattr(importlib.import_module(self.module), attribute)

    def check_trainable(self) -> None:
        """ConfigError unless the dataset may be meta-trained on (it is not test-only)."""
        if self.test_only:
            raise ConfigError(
                f"--dataset {self.name} is a cross-domain test set only: its train, "
                "validation and test splits hold the same classes, so training on it would "
                "meta-train on the test classes. Train on another dataset (e.g. --dataset "
                f"omniglot) and test with `cxgrad evaluate --dataset {self.name}`."
            )


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "omniglot",
            "1,623 handwritten characters from 50 alphabets, 20 drawings each (Lake et al.)",
            "cxgrad.data.omniglot",
            "load_omniglot",
            "check_omniglot",
            channels=1,
            image_size=28,
        ),
        DatasetSpec(
            "synthetic",
            "procedurally drawn glyph classes; no download, deterministic from a seed",
            "cxgrad.data.synthetic",
            "load_synthetic",
            None,
            channels=1,
            image_size=28,
        ),
        DatasetSpec(
            "miniimagenet",
            "100 ImageNet classes, 84x84, split 64/16/20 (Vinyals et al.; Ravi & Larochelle)",
            "cxgrad.data.miniimagenet",
            "load_miniimagenet",
            "check_miniimagenet",
            channels=3,
            image_size=84,
        ),
        DatasetSpec(
            "tieredimagenet",
            "608 ImageNet classes in 34 categories, split 351/97/160 (Ren et al.)",
            "cxgrad.data.tieredimagenet",
            "load_tieredimagenet",
            "check_tieredimagenet",
            channels=3,
            image_size=84,
        ),
        DatasetSpec(
            "cub",
            "200 bird species, CUB-200-2011, split 100/50/50 (Wah et al.)",
            "cxgrad.data.cub",
            "load_cub",
            "check_cub",
            channels=3,
            image_size=84,
        ),
        DatasetSpec(
            "cifarfs",
            "CIFAR-100 split 64/16/20 for few-shot learning (Bertinetto et al.)",
            "cxgrad.data.cifarfs",
            "load_cifarfs",
            "check_cifarfs",
            channels=3,
            image_size=32,
        ),
        DatasetSpec(
            "fashionmnist",
            "10 clothing classes, 28x28 grayscale; a cross-domain test set (Xiao et al.)",
            "cxgrad.data.fashion_mnist",
            "load_fashion_mnist",
            "check_fashion_mnist",
            channels=1,
            image_size=28,
            test_only=True,
        ),
    )
}

# Options the loaders take under their own names; these two are handled by load_dataset.
_COMMON = ("data_root", "image_size")


def get_spec(name: str) -> DatasetSpec:
    """The spec of dataset ``name``; ConfigError naming the known datasets otherwise."""
    key = str(name).strip().lower()
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return DATASETS[key]


def load_dataset(
    name: str,
    data_root: str | os.PathLike[str] | None = None,
    image_size: int | None = None,
    **options: object,
) -> FewShotDataset:
    """Load dataset ``name`` (see ``DATASETS``).

    ``image_size=None`` keeps the dataset's default. Options set to None are dropped, so
    callers can pass every CLI flag through and unset ones fall back to the defaults.
    Options a loader does not take raise ConfigError naming them (a typo should not be
    silently ignored). ``data_root`` is ignored by datasets that need no files.
    """
    spec = get_spec(name)
    loader = spec.function(spec.loader)
    accepted = inspect.signature(loader).parameters
    kwargs = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        allowed = [p for p in accepted if p not in _COMMON]
        raise ConfigError(
            f"dataset {spec.name} does not take option(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(allowed)}"
        )
    if image_size is not None:
        kwargs["image_size"] = image_size
    if "data_root" in accepted:
        kwargs["data_root"] = data_root
    return loader(**kwargs)


def check_dataset(name: str, data_root: str | os.PathLike[str] | None = None) -> DataCheck:
    """Whether dataset ``name`` is usable from ``data_root``, never downloading anything."""
    spec = get_spec(name)
    if spec.checker is None:
        return DataCheck(True, f"{spec.name}: generated on the fly, no files needed.")
    return spec.function(spec.checker)(data_root)
