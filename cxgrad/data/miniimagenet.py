"""miniImageNet (Vinyals et al. 2016) with the split of Ravi & Larochelle (ICLR 2017).

100 ImageNet classes of 600 images: 64 train, 16 val, 20 test. It is derived from
ImageNet and shared under ImageNet's terms, so nothing can download it automatically;
users bring one of the copies that circulate, and all three common ones are accepted under
``<data_root>/miniimagenet/`` (or converted from anywhere by ``cxgrad data prepare``):

* pickle caches ``mini-imagenet-cache-{train,val,test}.pkl``: dicts with ``image_data``
  (uint8 ``[N, 84, 84, 3]``) and ``class_dict`` (``{wnid: [row indices]}``);
* split folders ``train|val|test/<wnid>/<image>`` (jpg/png), as the authors' code reads;
* Ravi & Larochelle's original ``images/`` folder with ``train.csv``, ``val.csv`` and
  ``test.csv`` (``filename,label`` rows).

Classes are ordered by WordNet id and images by file name (or pickle row), so every copy
of the same data gives the same tasks. Inputs are scaled to [0, 1] and not standardized,
as in the authors' code.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np

from cxgrad.data import _benchmark as benchmark
from cxgrad.data._benchmark import (
    Benchmark,
    Layout,
    Source,
    Survey,
    TreeSource,
    candidate_dirs,
    split_folders_source,
)
from cxgrad.data._files import (
    FileTree,
    FolderTree,
    Plan,
    SplitArrays,
    load_pickle,
    offsets_of,
    progress_bar,
    resize_array,
)
from cxgrad.data._messages import few
from cxgrad.data.base import SPLITS
from cxgrad.errors import DataError

TITLE = "miniImageNet"
EXPECTED = {"train": 64, "val": 16, "test": 20}
PICKLE_NAME = "mini-imagenet-cache-{split}.pkl"
NESTED = ("mini-imagenet", "miniImageNet", "mini_imagenet")
GET_IT = (
    "miniImageNet is derived from ImageNet and shared under its terms, so it cannot be "
    "downloaded automatically. Use the split of Ravi & Larochelle (2017), 64/16/20 classes "
    "of 600 images; common distributions are the pickle caches "
    "mini-imagenet-cache-{train,val,test}.pkl, the split folders train/val/test/<wnid>/ "
    "(as MAML++ and the CxGrad authors' code read them), or the original images/ folder "
    "with train.csv, val.csv and test.csv."
)
DESCRIPTION = "miniImageNet (Vinyals et al. 2016), split of Ravi & Larochelle (2017)."
SPLIT_NAME = "the split of Ravi & Larochelle"
_CHUNK = 2048  # rows copied at once: bounds the temporary memory to ~40 MB
_PICKLE_RE = re.compile(r"mini-imagenet-cache-(train|val|test)\.pkl")


# ------------------------------------------------------------------------ locating copies


def locate(path: Path) -> Source | None:
    """The copy at ``path`` (a folder, or one of its pickles or CSV files), if any.

    Pickles win over folders because they need no decoding at 84x84.
    """
    if path.is_file():
        if _PICKLE_RE.fullmatch(path.name):
            return PickleSource(path.parent)
        if path.suffix == ".csv" and (path.parent / "images").is_dir():
            return _csv_source(path.parent)
        return None
    for folder in candidate_dirs(path, NESTED):
        if any((folder / PICKLE_NAME.format(split=s)).is_file() for s in SPLITS):
            return PickleSource(folder)
        if source := split_folders_source(folder, TITLE, BENCHMARK.fix(folder)):
            return source
        if (folder / "images").is_dir() and any((folder / f"{s}.csv").is_file() for s in SPLITS):
            return _csv_source(folder)
    return None


def layouts(folder: Path) -> list[str]:
    return [
        f"pickle caches {folder}/mini-imagenet-cache-{{train,val,test}}.pkl "
        "(dicts with image_data uint8 [N,84,84,3] and class_dict {wnid: [rows]})",
        f"split folders {folder}/{{train,val,test}}/<wnid>/*.jpg (or .png)",
        f"Ravi & Larochelle's {folder}/images/*.jpg with {folder}/{{train,val,test}}.csv",
    ]


# -------------------------------------------------------------------------- pickle caches


class PickleSource(Source):
    """``mini-imagenet-cache-{split}.pkl``: images already 84x84, so no decoding needed."""

    def __init__(self, folder: Path) -> None:
        super().__init__("pickle caches", folder, BENCHMARK.fix(folder))
        self._loaded: dict[str, tuple[np.ndarray, dict[str, list[int]]]] = {}

    def file(self, split: str) -> Path:
        return self.path / PICKLE_NAME.format(split=split)

    def survey(self) -> Survey:
        classes, where, missing = {}, {}, {}
        for split in SPLITS:
            if not self.file(split).is_file():
                missing[split] = str(self.file(split))
                continue
            _, class_dict = self._load(split)
            classes[split] = {wnid: len(class_dict[wnid]) for wnid in sorted(class_dict)}
            where[split] = str(self.file(split))
        return Survey(classes, where, missing)

    def read(self, image_size: int, progress: bool) -> dict[str, SplitArrays]:
        try:
            return {split: self._read_split(split, image_size, progress) for split in SPLITS}
        finally:
            self._loaded.clear()  # the pickles hold ~2 GB of pixels: free them

    def _read_split(self, split: str, image_size: int, progress: bool) -> SplitArrays:
        images, class_dict = self._load(split)
        names = sorted(class_dict)
        rows = np.concatenate([np.asarray(class_dict[n], dtype=np.int64) for n in names])
        offsets = offsets_of(len(class_dict[n]) for n in names)
        out = np.empty((len(rows), 3, image_size, image_size), np.uint8)
        same_size = images.shape[1:3] == (image_size, image_size)
        step = _CHUNK if same_size else 1  # at 84x84 rows are copied, chunk by chunk
        with progress_bar(len(rows), f"{TITLE} {split}", progress) as bar:
            for start in range(0, len(rows), step):
                picked = rows[start : start + step]
                if same_size:
                    out[start : start + step] = images[picked].transpose(0, 3, 1, 2)
                else:
                    out[start] = resize_array(images[picked[0]], image_size)
                bar.update(len(picked))
        return SplitArrays(out, offsets, names)

    def _load(self, split: str) -> tuple[np.ndarray, dict[str, list[int]]]:
        if split not in self._loaded:
            self._loaded[split] = self._parse(self.file(split))
        return self._loaded[split]

    def _parse(self, path: Path) -> tuple[np.ndarray, dict[str, list[int]]]:
        """``image_data`` and ``class_dict`` of one pickle, checked for shape and range."""
        data = load_pickle(path, self.fix)
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        if not isinstance(data, dict) or not {"image_data", "class_dict"} <= set(data):
            raise DataError(
                f"{path} is not a miniImageNet pickle cache: expected a dict with keys "
                f"image_data and class_dict, found {keys}. {self.fix}"
            )
        images = np.asarray(data["image_data"])
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise DataError(
                f"{path}: image_data must be uint8 [N, H, W, 3], found {images.dtype} "
                f"{images.shape}. {self.fix}"
            )
        class_dict = {str(k): list(v) for k, v in dict(data["class_dict"]).items()}
        bad = [k for k, rows in class_dict.items() if any(not 0 <= r < len(images) for r in rows)]
        if bad:
            raise DataError(
                f"{path}: class_dict refers to rows outside image_data ({len(images)} rows) "
                f"for classes {few(bad)}. {self.fix}"
            )
        return images, class_dict


# -------------------------------------------------------------- Ravi & Larochelle's CSVs


def _csv_source(folder: Path) -> TreeSource:
    return TreeSource(
        "images/ + CSV files", FolderTree(folder, BENCHMARK.fix(folder)), csv_layout, TITLE
    )


def csv_layout(tree: FileTree) -> Layout:
    """``images/<filename>`` grouped by the ``filename,label`` rows of ``{split}.csv``."""
    present = set(tree.names())
    plan: Plan = {}
    where, missing, problems = {}, {}, []
    for split in SPLITS:
        name = f"{split}.csv"
        if name not in present:
            missing[split] = tree.where(name)
            continue
        by_class: dict[str, list[str]] = {}
        for filename, label in _csv_rows(tree, name):
            by_class.setdefault(label, []).append(f"images/{filename}")
        absent = [ref for refs in by_class.values() for ref in refs if ref not in present]
        if absent:
            problems.append(
                f"{split}: {len(absent)} images listed in {tree.where(name)} are not in "
                f"{tree.where('images')}: {few(absent)}"
            )
        plan[split] = {c: sorted(by_class[c]) for c in sorted(by_class)}
        where[split] = tree.where(name)
    return Layout(plan, where, missing, problems)


def _csv_rows(tree: FileTree, name: str) -> list[tuple[str, str]]:
    rows = list(csv.reader(io.StringIO(tree.read(name).decode("utf-8-sig"))))
    if rows and [c.strip().lower() for c in rows[0]] == ["filename", "label"]:
        rows = rows[1:]
    bad = [i + 1 for i, row in enumerate(rows) if row and len(row) != 2]
    if bad:
        raise DataError(
            f"{tree.where(name)} is not a Ravi & Larochelle split file: rows must be "
            f"'filename,label', see line(s) {few(bad)}. {tree.fix}"
        )
    return [(row[0].strip(), row[1].strip()) for row in rows if row]


BENCHMARK = Benchmark(
    "miniimagenet", TITLE, EXPECTED, locate, layouts, GET_IT, DESCRIPTION, SPLIT_NAME
)

load_miniimagenet, check_miniimagenet = benchmark.entry_points(BENCHMARK)
