"""CUB-200-2011 (Wah et al. 2011): 200 bird species, for cross-domain evaluation.

CxGrad's Table 2 tests miniImageNet-trained models on CUB's test split. The split is the
one of Hilliard et al. / Chen et al. that the authors use: the 200 class folders sorted by
name (``001.Black_footed_Albatross`` ... ``200.Common_Yellowthroat``), class ``i``
(0-based) in train if ``i % 2 == 0``, val if ``i % 4 == 1``, test if ``i % 4 == 3``, which
gives 100/50/50 classes.

Accepted under ``<data_root>/cub/`` (or converted from anywhere by ``cxgrad data
prepare``): the official ``CUB_200_2011.tgz``, read in place without extracting anything
(streamed, as a gzipped tar has no random access), or its extracted
``CUB_200_2011/images/<NNN.Class_name>/*.jpg``. Photos of any shape are resized to
``S`` x ``S`` without cropping (a few grey ones are made RGB), scaled to [0, 1] and not
standardized, as in the authors' code.
"""

from __future__ import annotations

from pathlib import Path

from cxgrad.data import _benchmark as benchmark
from cxgrad.data._benchmark import Benchmark, Layout, Source, TreeSource
from cxgrad.data._files import FileTree, FolderTree, Plan, TarTree, is_image_name
from cxgrad.data._messages import few

NAME = "cub"
TITLE = "CUB-200-2011"
EXPECTED = {"train": 100, "val": 50, "test": 50}
NUM_CLASSES = 200
ARCHIVE = "CUB_200_2011.tgz"
TOP = "CUB_200_2011"
GET_IT = (
    f"the official {ARCHIVE} (about 1.1 GB) from Caltech's data site, linked from "
    "https://www.vision.caltech.edu/datasets/cub_200_2011/ (CaltechDATA)."
)
DESCRIPTION = (
    "CUB-200-2011 (Wah et al. 2011), 200 bird species; class i of the sorted "
    "folders is train if i%2==0, val if i%4==1, test if i%4==3."
)
SPLIT_NAME = "class i of the sorted folders in train if i%2==0, val if i%4==1, test if i%4==3"


def split_of(index: int) -> str:
    """The split of the class at ``index`` (0-based) in name order."""
    return "train" if index % 2 == 0 else ("val" if index % 4 == 1 else "test")


# ------------------------------------------------------------------------ locating copies


def locate(path: Path) -> Source | None:
    """The extracted folder at or in ``path`` if any (it is what users edit), else the tgz."""
    if path.is_file():
        return _tar_source(path) if path.name.endswith((".tgz", ".tar.gz", ".tar")) else None
    for folder in (path / TOP / TOP, path / TOP, path):
        if (folder / "images").is_dir():
            tree = FolderTree(folder, BENCHMARK.fix(folder))
            return TreeSource("extracted folder", tree, class_folders_layout, TITLE)
    archive = path / ARCHIVE
    return _tar_source(archive) if archive.is_file() else None


def _tar_source(path: Path) -> TreeSource:
    return TreeSource(
        "official tgz", TarTree(path, BENCHMARK.fix(path)), class_folders_layout, TITLE
    )


def layouts(folder: Path) -> list[str]:
    return [
        f"the official archive {folder}/{ARCHIVE} (read in place)",
        f"or its extracted folder {folder}/{TOP}/images/<NNN.Class_name>/*.jpg",
    ]


def class_folders_layout(tree: FileTree) -> Layout:
    """``[CUB_200_2011/]images/<class>/<image>`` split by the class's index in name order."""
    by_class: dict[str, list[str]] = {}
    for name in tree.names():
        parts = name.split("/")
        if parts[0] == TOP:
            parts = parts[1:]
        if len(parts) == 3 and parts[0] == "images" and is_image_name(name):
            by_class.setdefault(parts[1], []).append(name)
    images_dir = tree.where(f"{TOP}/images" if isinstance(tree, TarTree) else "images")
    plan: Plan = {"train": {}, "val": {}, "test": {}}
    for i, cls in enumerate(sorted(by_class)):
        plan[split_of(i)][cls] = sorted(by_class[cls])
    problems = []
    if len(by_class) != NUM_CLASSES:
        problems.append(
            f"{images_dir} holds {len(by_class)} class folders with images, expected "
            f"{NUM_CLASSES} (found: {few(sorted(by_class))})"
        )
    return Layout(plan, {s: images_dir for s in plan}, problems=problems)


BENCHMARK = Benchmark(NAME, TITLE, EXPECTED, locate, layouts, GET_IT, DESCRIPTION, SPLIT_NAME)

load_cub, check_cub = benchmark.entry_points(BENCHMARK)
