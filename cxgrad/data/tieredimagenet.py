"""tieredImageNet (Ren et al., ICLR 2018): 608 ImageNet classes in 34 super-categories.

351 train classes (20 categories), 97 val (6) and 160 test (8): train and test classes
come from different branches of the ImageNet hierarchy, which makes it a harder benchmark
than miniImageNet. Like miniImageNet it is shared under ImageNet's terms and cannot be
downloaded automatically. Accepted under ``<data_root>/tieredimagenet/`` (or converted from
anywhere by ``cxgrad data prepare``):

* the widely shared pickle pairs ``{split}_images_png.pkl`` (one PNG-encoded byte string
  per image, written with NumPy by Python 2) and ``{split}_labels.pkl`` (a dict with
  ``label_specific``, ``label_general``, ``label_specific_str``, ``label_general_str``);
* split folders ``train|val|test/<wnid>/<image>``.

With the pickles, each class's super-category name is kept in ``FewShotDataset.info``
(``info["super_categories"][split][class_name]``). Inputs are scaled to [0, 1] and not
standardized, as in the authors' code. At 84x84 the decoded images take about 16 GB:
``cxgrad data prepare`` stores them once and later loads memory-map them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cxgrad.data import _benchmark as benchmark
from cxgrad.data._benchmark import (
    Benchmark,
    Source,
    Survey,
    candidate_dirs,
    split_folders_source,
)
from cxgrad.data._files import (
    SplitArrays,
    as_bytes,
    decode_image,
    load_pickle,
    offsets_of,
    plain_keys,
    progress_bar,
)
from cxgrad.data.base import SPLITS
from cxgrad.errors import DataError

TITLE = "tieredImageNet"
EXPECTED = {"train": 351, "val": 97, "test": 160}
IMAGES_NAME = "{split}_images_png.pkl"
LABELS_NAME = "{split}_labels.pkl"
NESTED = ("tiered-imagenet", "tieredImageNet", "tiered_imagenet")
GET_IT = (
    "tieredImageNet is derived from ImageNet and shared under its terms, so it cannot be "
    "downloaded automatically. Use the split of Ren et al. (2018), 351/97/160 classes; the "
    "common distribution is the archive tiered-imagenet.tar with "
    "{train,val,test}_images_png.pkl and {train,val,test}_labels.pkl (extract it), or make "
    "split folders train/val/test/<wnid>/ with the generator script of Ren et al."
)
DESCRIPTION = (
    "tieredImageNet (Ren et al. 2018), 34 ImageNet super-categories split "
    "20/6/8 between train/val/test."
)
SPLIT_NAME = "the split of Ren et al."


# ------------------------------------------------------------------------ locating copies


def locate(path: Path) -> Source | None:
    """The copy at ``path`` (a folder, or one of its pickles), if any."""
    if path.is_file():
        return PickleSource(path.parent) if path.name.endswith(".pkl") else None
    for folder in candidate_dirs(path, NESTED):
        if any(_pickle_present(folder, s) for s in SPLITS):
            return PickleSource(folder)
        if source := split_folders_source(folder, TITLE, BENCHMARK.fix(folder)):
            return source
    return None


def _pickle_present(folder: Path, split: str) -> bool:
    names = (IMAGES_NAME.format(split=split), LABELS_NAME.format(split=split))
    return any((folder / n).is_file() for n in names)


def layouts(folder: Path) -> list[str]:
    return [
        f"pickles {folder}/{{train,val,test}}_images_png.pkl with "
        f"{folder}/{{train,val,test}}_labels.pkl",
        f"split folders {folder}/{{train,val,test}}/<wnid>/*.jpg (or .png)",
    ]


# -------------------------------------------------------------------------------- pickles


class _Labels:
    """One split's labels: the class of each image, class names and super-categories."""

    def __init__(self, path: Path, split: str, fix: str) -> None:
        data = load_pickle(path, fix)
        data = plain_keys(data) if isinstance(data, dict) else data
        if not isinstance(data, dict) or "label_specific" not in data:
            found = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
            raise DataError(
                f"{path} is not a tieredImageNet labels file: expected a dict with "
                f"label_specific (and label_general, label_specific_str, "
                f"label_general_str), found {found}. {fix}"
            )
        self.per_image = np.asarray(data["label_specific"]).astype(np.int64).reshape(-1)
        self.classes, self.first, self.counts = np.unique(
            self.per_image, return_index=True, return_counts=True
        )
        specific_str = list(data.get("label_specific_str", []))
        # Numbered names (no label_specific_str) start at 0 in every split: the split in
        # the name keeps them apart, as the classes themselves are.
        self.names = [_name(specific_str, c, f"{split}/class") for c in self.classes]
        self.super_categories = self._super_categories(data)

    def _super_categories(self, data: dict) -> list[str] | None:
        """The super-category of each class: that of its first image."""
        if "label_general" not in data:
            return None
        general = np.asarray(data["label_general"]).astype(np.int64).reshape(-1)
        if len(general) != len(self.per_image):
            return None
        general_str = list(data.get("label_general_str", []))
        return [_name(general_str, int(general[i]), "category") for i in self.first]


def _name(strings: list, index: int, prefix: str) -> str:
    """``strings[index]`` as text (bytes from Python 2 decoded), else a numbered name."""
    if 0 <= index < len(strings):
        value = strings[index]
        return value.decode() if isinstance(value, bytes) else str(value)
    return f"{prefix}{index:03d}"


class PickleSource(Source):
    """``{split}_images_png.pkl`` + ``{split}_labels.pkl``; classes in label order."""

    def __init__(self, folder: Path) -> None:
        super().__init__("pickles", folder, BENCHMARK.fix(folder))
        self._labels: dict[str, _Labels] = {}

    def files(self, split: str) -> tuple[Path, Path]:
        return (
            self.path / IMAGES_NAME.format(split=split),
            self.path / LABELS_NAME.format(split=split),
        )

    def survey(self) -> Survey:
        classes, where, missing = {}, {}, {}
        for split in SPLITS:
            absent = [str(f) for f in self.files(split) if not f.is_file()]
            if absent:
                missing[split] = " and ".join(absent)
                continue
            labels = self.labels(split)
            classes[split] = dict(zip(labels.names, labels.counts.tolist(), strict=True))
            where[split] = str(self.files(split)[1])
        return Survey(classes, where, missing)

    def labels(self, split: str) -> _Labels:
        if split not in self._labels:
            self._labels[split] = _Labels(self.files(split)[1], split, self.fix)
        return self._labels[split]

    def read(self, image_size: int, progress: bool) -> dict[str, SplitArrays]:
        return {split: self._read_split(split, image_size, progress) for split in SPLITS}

    def _read_split(self, split: str, image_size: int, progress: bool) -> SplitArrays:
        images_file, labels_file = self.files(split)
        labels = self.labels(split)
        encoded = load_pickle(images_file, self.fix)
        if not isinstance(encoded, list | tuple | np.ndarray):
            raise DataError(
                f"{images_file} is not a tieredImageNet images pickle: expected a list or "
                f"array of PNG-encoded images, found {type(encoded).__name__}. {self.fix}"
            )
        if len(encoded) != len(labels.per_image):
            raise DataError(
                f"{images_file} holds {len(encoded):,} images but {labels_file} labels "
                f"{len(labels.per_image):,}: the pair does not belong together. {self.fix}"
            )
        order = np.argsort(labels.per_image, kind="stable")  # by class, then file order
        out = np.empty((len(order), 3, image_size, image_size), np.uint8)
        with progress_bar(len(order), f"{TITLE} {split}", progress) as bar:
            for j, i in enumerate(order.tolist()):
                where = f"image {i} of {images_file}"
                out[j] = decode_image(self._bytes(encoded[i], where), image_size, where, self.fix)
                bar.update(1)
        offsets = offsets_of(labels.counts.tolist())
        return SplitArrays(out, offsets, labels.names, labels.super_categories)

    def _bytes(self, item: object, where: str) -> bytes:
        try:
            return as_bytes(item)
        except TypeError as exc:
            raise DataError(f"{where}: {exc}. {self.fix}") from exc


BENCHMARK = Benchmark(
    "tieredimagenet", TITLE, EXPECTED, locate, layouts, GET_IT, DESCRIPTION, SPLIT_NAME
)

load_tieredimagenet, check_tieredimagenet = benchmark.entry_points(BENCHMARK)
