"""CIFAR-FS (Bertinetto et al., ICLR 2019): the 100 CIFAR-100 classes split 64/16/20.

Used by CxGrad's Table 2 for cross-domain testing. The archive distributed with the R2D2
and MetaOptNet code, ``cifar100.zip``, holds ``cifar100/data/<class_name>/*.png`` (600
32x32 images per class) and the split lists ``cifar100/splits/bertinetto/{train,val,
test}.txt`` (one class name per line). It is accepted under ``<data_root>/cifarfs/`` as
the zip (read in place) or extracted, and ``cxgrad data prepare`` converts it from anywhere.

Images are upsampled from 32x32 to ``S`` x ``S`` (84 by default, to feed the same networks
as miniImageNet) with Lanczos, scaled to [0, 1] and then, unlike the other benchmarks,
standardized per channel with the CIFAR-100 training-set statistics, as the authors' code
does. The statistics travel with the splits (``ClassImages.mean``/``std``), so every
sampler applies them.
"""

from __future__ import annotations

from pathlib import Path

from cxgrad.data import _benchmark as benchmark
from cxgrad.data._benchmark import Benchmark, Layout, Source, TreeSource
from cxgrad.data._files import FileTree, FolderTree, Plan, ZipTree, is_image_name
from cxgrad.data._messages import few
from cxgrad.data.base import SPLITS
from cxgrad.errors import DataError

NAME = "cifarfs"
TITLE = "CIFAR-FS"
EXPECTED = {"train": 64, "val": 16, "test": 20}
ARCHIVE = "cifar100.zip"
TOP = "cifar100"
SPLIT_FILE = "splits/bertinetto/{split}.txt"
# CIFAR-100 training-set channel statistics on the [0, 1] scale (the usual constants).
MEAN = (0.5071, 0.4865, 0.4409)
STD = (0.2673, 0.2564, 0.2762)
GET_IT = (
    f"the CIFAR-FS archive of Bertinetto et al. (R2D2, ICLR 2019), {ARCHIVE}, as shared "
    "with their code and MetaOptNet's; it must contain cifar100/data/<class>/*.png and the "
    "split lists cifar100/splits/bertinetto/{train,val,test}.txt."
)
DESCRIPTION = (
    "CIFAR-FS (Bertinetto et al. 2019), CIFAR-100 split 64/16/20 by "
    "splits/bertinetto; 32x32 images upsampled, standardized with the CIFAR-100 mean/std."
)
SPLIT_NAME = "splits/bertinetto of Bertinetto et al."


# ------------------------------------------------------------------------ locating copies


def locate(path: Path) -> Source | None:
    """The extracted folder at or in ``path`` if any, else ``cifar100.zip``."""
    if path.is_file():
        return _source(ZipTree(path, BENCHMARK.fix(path)), "zip") if path.suffix == ".zip" else None
    for folder in (path / TOP / TOP, path / TOP, path):
        if (folder / "data").is_dir() or (folder / "splits").is_dir():
            return _source(FolderTree(folder, BENCHMARK.fix(folder)), "extracted folder")
    archive = path / ARCHIVE
    return _source(ZipTree(archive, BENCHMARK.fix(archive)), "zip") if archive.is_file() else None


def _source(tree: FileTree, format: str) -> TreeSource:
    return TreeSource(format, tree, split_lists_layout, TITLE)


def layouts(folder: Path) -> list[str]:
    return [
        f"the archive {folder}/{ARCHIVE} (read in place)",
        f"or its extracted folder {folder}/{TOP}/data/<class>/*.png with "
        f"{folder}/{TOP}/splits/bertinetto/{{train,val,test}}.txt",
    ]


def split_lists_layout(tree: FileTree) -> Layout:
    """``data/<class>/*.png`` grouped by the class lists of ``splits/bertinetto``."""
    names = tree.names()
    prefix = _prefix(names, tree)
    images: dict[str, list[str]] = {}
    for name in names:
        parts = name.removeprefix(prefix).split("/")
        if len(parts) == 3 and parts[0] == "data" and is_image_name(name):
            images.setdefault(parts[1], []).append(name)
    present = set(names)
    plan: Plan = {}
    where, missing, seen = {}, {}, {}
    for split in SPLITS:
        ref = prefix + SPLIT_FILE.format(split=split)
        if ref not in present:
            missing[split] = tree.where(ref)
            continue
        classes = _class_list(tree, ref)
        plan[split] = {c: sorted(images.get(c, [])) for c in sorted(classes)}
        where[split] = f"{tree.where(ref)}, images in {tree.where(prefix + 'data')}"
        for c in classes:
            seen.setdefault(c, []).append(split)
    shared = [f"{c} ({'/'.join(s)})" for c, s in sorted(seen.items()) if len(s) > 1]
    problems = [f"classes listed in more than one split: {few(shared)}"] if shared else []
    return Layout(plan, where, missing, problems)


def _prefix(names: list[str], tree: FileTree) -> str:
    """The folder holding ``splits/`` and ``data/``: ``cifar100/`` in the distributed zip,
    ``""`` in an extracted folder, whatever a re-packed archive put above them."""
    for marker in ("splits/bertinetto/", "data/"):
        for name in names:
            head, found, _ = name.partition(marker)
            if found and (not head or head.endswith("/")):
                return head
    return f"{TOP}/" if isinstance(tree, ZipTree) else ""


def _class_list(tree: FileTree, ref: str) -> list[str]:
    try:
        text = tree.read(ref).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{tree.where(ref)} is not a text file of class names. {tree.fix}") from exc
    classes = [line.strip() for line in text.splitlines() if line.strip()]
    return list(dict.fromkeys(classes))  # a repeated line is one class


BENCHMARK = Benchmark(
    NAME, TITLE, EXPECTED, locate, layouts, GET_IT, DESCRIPTION, SPLIT_NAME, MEAN, STD
)

# load_cifarfs: uint8 [N, 3, S, S] upsampled from 32x32; each split carries MEAN and STD.
load_cifarfs, check_cifarfs = benchmark.entry_points(BENCHMARK)
