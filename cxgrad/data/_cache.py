"""The fast cache of a decoded benchmark: one uint8 ``.npy`` and one ``.json`` per split.

Decoding tieredImageNet's 779,165 PNGs takes tens of minutes; reading the same pixels
back from a ``.npy`` takes seconds. ``cxgrad data prepare`` therefore decodes a download
once into ``<data_root>/<name>/cxgrad-cache-<image_size>/``::

    info.json        dataset, image size, resampling filter, what it was made from
    train.npy        uint8 [N, 3, S, S], the images of class c in rows offsets[c]:offsets[c+1]
    train.json       {"class_names": [...], "offsets": [...], "super_categories": [...]?}
    val.npy ...      the same for val and test

The folder is written under a temporary name and renamed into place, so a cache is
either complete or absent: an interrupted ``prepare`` never leaves a half cache that a
later run would trust. Arrays are memory-mapped copy-on-write, so "loading" costs no
time and tieredImageNet (about 16 GB at 84x84) works on machines with less RAM.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from cxgrad.data._files import RESAMPLE_NAME, SplitArrays
from cxgrad.errors import DataError

CACHE_PREFIX = "cxgrad-cache-"
CACHE_VERSION = 1


def cache_dir(dataset_dir: Path, image_size: int) -> Path:
    """Where the cache of a dataset folder at ``image_size`` lives."""
    return dataset_dir / f"{CACHE_PREFIX}{image_size}"


def cached_sizes(dataset_dir: Path) -> list[int]:
    """Image sizes that have a cache folder under ``dataset_dir``, ascending."""
    if not dataset_dir.is_dir():
        return []
    sizes = []
    for entry in dataset_dir.iterdir():
        suffix = entry.name.removeprefix(CACHE_PREFIX)
        if entry.is_dir() and entry.name.startswith(CACHE_PREFIX) and suffix.isdigit():
            sizes.append(int(suffix))
    return sorted(sizes)


# -------------------------------------------------------------------------------- writing


def write_cache(
    folder: Path, dataset: str, image_size: int, splits: dict[str, SplitArrays], source: str
) -> Path:
    """Write ``splits`` as the cache ``folder`` atomically (temporary folder, then rename)."""
    _make_parent(folder.parent)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()  # honours the umask, unlike tempfile.mkdtemp's private 0700 folders
    try:
        for split, arrays in splits.items():
            np.save(tmp / f"{split}.npy", arrays.images)
            _write_json(tmp / f"{split}.json", _split_record(dataset, split, arrays))
        info = {
            "dataset": dataset,
            "version": CACHE_VERSION,
            "image_size": image_size,
            "resample": RESAMPLE_NAME,
            "source": source,
            "splits": {s: {"classes": len(a.class_names)} for s, a in splits.items()},
        }
        _write_json(tmp / "info.json", info)
        _swap_in(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _make_parent(parent: Path) -> None:
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = parent / f".cxgrad-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise DataError(
            f"cannot write the cache into {parent} ({type(exc).__name__}: {exc}). Choose a "
            "writable data root with --data-root or the CXGRAD_DATA_ROOT environment variable."
        ) from exc


def _split_record(dataset: str, split: str, arrays: SplitArrays) -> dict[str, Any]:
    record: dict[str, Any] = {
        "dataset": dataset,
        "split": split,
        "class_names": list(arrays.class_names),
        "offsets": [int(o) for o in arrays.offsets],
    }
    if arrays.super_categories is not None:
        record["super_categories"] = list(arrays.super_categories)
    return record


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def _swap_in(tmp: Path, folder: Path) -> None:
    """Rename ``tmp`` to ``folder``, replacing an older cache there (POSIX cannot rename
    onto a non-empty folder, so the old one steps aside first and is deleted after)."""
    old = None
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        os.replace(folder, old)
    os.replace(tmp, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# -------------------------------------------------------------------------------- reading


def read_cache(
    folder: Path, splits: tuple[str, ...], image_size: int, fix: str
) -> tuple[dict[str, SplitArrays], dict[str, Any]]:
    """The cached splits (memory-mapped) and ``info.json``; DataError if anything is off.

    ``fix`` is appended to errors: it tells the user how to rebuild the cache.
    """
    info = _read_json(folder / "info.json", fix)
    if info.get("version") != CACHE_VERSION or info.get("image_size") != image_size:
        raise DataError(
            f"the cache {folder} was written by another version of cxgrad or for another "
            f"image size (version {info.get('version')}, image size "
            f"{info.get('image_size')}; this version reads version {CACHE_VERSION} at "
            f"{image_size}). {fix}"
        )
    return {split: _read_split(folder, split, image_size, fix) for split in splits}, info


def _read_split(folder: Path, split: str, image_size: int, fix: str) -> SplitArrays:
    record = _read_json(folder / f"{split}.json", fix)
    path = folder / f"{split}.npy"
    try:
        images = np.load(path, mmap_mode="c")
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the cache file {path} ({exc}). {fix}") from exc
    names = record.get("class_names")
    offsets = np.asarray(record.get("offsets", []), dtype=np.int64)
    expected_shape = (int(offsets[-1]) if len(offsets) else -1, 3, image_size, image_size)
    consistent = (
        isinstance(names, list)
        and len(offsets) == len(names) + 1
        and offsets[0] == 0
        and bool(np.all(np.diff(offsets) >= 0))
        and images.dtype == np.uint8
        and images.shape == expected_shape
    )
    if not consistent:
        raise DataError(
            f"the cache files {path} and {path.with_suffix('.json')} do not match (images "
            f"{images.dtype} {tuple(images.shape)}, expected uint8 {expected_shape}). {fix}"
        )
    return SplitArrays(images, offsets, names, record.get("super_categories"))


def _read_json(path: Path, fix: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the cache file {path} ({exc}). {fix}") from exc
    if not isinstance(data, dict):
        raise DataError(f"the cache file {path} does not hold a JSON object. {fix}")
    return data
