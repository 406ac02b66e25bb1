"""``prepare_dataset``: decode a download once into the fast cache that loaders read first.

Raw copies of the RGB benchmarks take minutes (CUB, miniImageNet) to tens of minutes
(tieredImageNet) to decode; the cache under ``<data_root>/<name>/cxgrad-cache-<size>/``
(see ``cxgrad.data._cache``) loads in seconds. The download may be anywhere: ``source`` is
the file or folder the user has, in any format the dataset's loader accepts, and it is
only read.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from cxgrad.data import _benchmark as benchmark
from cxgrad.data.registry import get_spec
from cxgrad.errors import ConfigError

# Datasets with a cache; the module of each defines ``BENCHMARK``.
PREPARABLE = ("miniimagenet", "tieredimagenet", "cub", "cifarfs")


def prepare_dataset(
    name: str,
    source: str | os.PathLike[str],
    data_root: str | os.PathLike[str] | None = None,
    image_size: int = benchmark.DEFAULT_IMAGE_SIZE,
    progress: bool = True,
) -> Path:
    """Convert the copy of ``name`` at ``source`` into its cache and return the cache folder.

    ``source`` is a file or folder in any accepted format (e.g. ``CUB_200_2011.tgz``, a
    folder of ``mini-imagenet-cache-*.pkl``, an extracted ``cifar100/``). The layout is
    validated before anything is decoded; the cache is written atomically, replacing an
    older one for the same image size. Raises DataError naming what is missing or damaged,
    ConfigError for a dataset that has no cache (Omniglot and synthetic load directly).
    """
    spec = get_spec(name)
    if spec.name not in PREPARABLE:
        raise ConfigError(
            f"dataset {spec.name} needs no prepare step (it is read directly); "
            f"`prepare` converts: {', '.join(PREPARABLE)}"
        )
    bench = importlib.import_module(str(spec.module)).BENCHMARK
    return benchmark.prepare(bench, source, data_root, image_size, progress)
