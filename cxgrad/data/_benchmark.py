"""What the RGB benchmarks share: find a copy, validate it, decode or cache it, report on it.

miniImageNet, tieredImageNet, CUB and CIFAR-FS differ only in how their files are laid out.
Each of their modules describes that in a :class:`Benchmark` (expected classes per split,
how to recognise a copy, where to get one) and delegates the rest here, so that every
dataset checks, caches, reports and fails in the same way:

* :func:`load` reads ``<data_root>/<name>/cxgrad-cache-<size>/`` when it exists (seconds),
  else the raw files (minutes), validating the class counts before decoding anything;
* :func:`prepare` turns a download anywhere on disk into that cache;
* :func:`check` reports what is there, in which format, and what is missing, without
  decoding images.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cxgrad.data._cache import cache_dir, cached_sizes, read_cache, write_cache
from cxgrad.data._files import (
    RESAMPLE_NAME,
    FileTree,
    FolderTree,
    Plan,
    SplitArrays,
    check_image_size,
    decode_plan,
    is_image_name,
)
from cxgrad.data._messages import few, root_hint
from cxgrad.data._paths import data_root_origin, resolve_data_root
from cxgrad.data.base import SPLITS, FewShotDataset
from cxgrad.data.registry import DataCheck
from cxgrad.errors import DataError

DEFAULT_IMAGE_SIZE = 84


# ------------------------------------------------------------------------ sources of data


@dataclass
class Survey:
    """What a copy holds, found without decoding images (cheap enough for ``data check``).

    ``classes``: split -> class name -> number of images, for the splits found;
    ``where``: split -> the file or folder it was read from; ``missing``: split -> the
    file or folder that should hold it; ``problems``: anything else wrong, in words.
    """

    classes: dict[str, dict[str, int]]
    where: dict[str, str]
    missing: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def counts(self) -> str:
        """``train 64 classes (38,400 images), val 16 (9,600), ...`` for reports."""
        parts = []
        for i, (split, classes) in enumerate(self.classes.items()):
            label = " classes" if i == 0 else ""
            parts.append(f"{split} {len(classes)}{label} ({sum(classes.values()):,} images)")
        return ", ".join(parts)


class Source(ABC):
    """One recognised copy of a benchmark, in one format.

    ``fix`` ends every message about a damaged file: how to get a good copy.
    """

    def __init__(self, format: str, path: Path, fix: str) -> None:
        self.format = format
        self.path = path
        self.fix = fix

    def describe(self) -> str:
        return f"{self.format} at {self.path}"

    @abstractmethod
    def survey(self) -> Survey:
        """Splits, classes and image counts, without decoding images."""

    @abstractmethod
    def read(self, image_size: int, progress: bool) -> dict[str, SplitArrays]:
        """Every split decoded, classes in the order of ``survey``."""


@dataclass
class Layout:
    """Image files of a :class:`FileTree` grouped by split and class (see ``Plan``)."""

    plan: Plan
    where: dict[str, str]
    missing: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def survey(self) -> Survey:
        classes = {
            split: {name: len(refs) for name, refs in by_class.items()}
            for split, by_class in self.plan.items()
        }
        return Survey(classes, dict(self.where), dict(self.missing), list(self.problems))


class TreeSource(Source):
    """A copy whose images are files (in a folder, zip or tar) that ``planner`` groups."""

    def __init__(
        self, format: str, tree: FileTree, planner: Callable[[FileTree], Layout], title: str
    ) -> None:
        super().__init__(format, tree.path, tree.fix)
        self.tree = tree
        self.title = title
        self._planner = planner
        self._layout: Layout | None = None

    def layout(self) -> Layout:
        if self._layout is None:
            self._layout = self._planner(self.tree)
        return self._layout

    def survey(self) -> Survey:
        return self.layout().survey()

    def read(self, image_size: int, progress: bool) -> dict[str, SplitArrays]:
        return decode_plan(
            self.tree, self.layout().plan, image_size, progress, self.title, self.fix
        )


def split_folders_layout(tree: FileTree) -> Layout:
    """``train|val|test/<class>/<image>``: the layout of most ImageNet-derived downloads.

    Classes are sorted by folder name (the WordNet id), images by file name, so two copies
    of the same files give the same tasks.
    """
    plan: Plan = {}
    for name in sorted(tree.names()):
        parts = name.split("/")
        if len(parts) == 3 and parts[0] in SPLITS and is_image_name(name):
            plan.setdefault(parts[0], {}).setdefault(parts[1], []).append(name)
    found = {s: dict(sorted(plan[s].items())) for s in SPLITS if s in plan}
    where = {s: tree.where(s) for s in found}
    missing = {s: f"{tree.where(s)}/<class>/<images>" for s in SPLITS if s not in found}
    return Layout(found, where, missing)


def split_folders_source(folder: Path, title: str, fix: str) -> TreeSource | None:
    """``folder`` read as ``train|val|test/<class>/<image>``, if it has a split folder."""
    if not any((folder / split).is_dir() for split in SPLITS):
        return None
    return TreeSource("split folders", FolderTree(folder, fix), split_folders_layout, title)


def candidate_dirs(path: Path, nested: tuple[str, ...]) -> list[Path]:
    """``path`` and the folders named ``nested`` inside it: archives usually unpack into a
    folder of their own, and users point at either level."""
    return [d for d in (path, *(path / n for n in nested)) if d.is_dir()]


# --------------------------------------------------------------------------- benchmarks


@dataclass(frozen=True)
class Benchmark:
    """One RGB benchmark: its split, how its copies look and where to get one.

    ``locate(path)`` recognises a copy at a file or folder (None if there is none);
    ``layouts(folder)`` lists the accepted layouts spelled out under ``folder``;
    ``mean``/``std`` standardize the inputs when the authors' code does (CIFAR-FS only).
    """

    name: str
    title: str
    expected: dict[str, int]
    locate: Callable[[Path], Source | None]
    layouts: Callable[[Path], list[str]]
    get_it: str
    description: str
    split_name: str
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def fix(self, path: Path) -> str:
        """What to do about a damaged or incomplete copy at ``path``: where to get a good one."""
        return (
            f"Replace the damaged file, or the whole copy at {path}, with a good one. {self.get_it}"
        )

    def expected_counts(self) -> str:
        counts = "/".join(str(self.expected[s]) for s in SPLITS)
        return f"{counts} classes in train/val/test, {self.split_name}"


def entry_points(
    bench: Benchmark,
) -> tuple[Callable[..., FewShotDataset], Callable[..., DataCheck]]:
    """``load_<name>`` and ``check_<name>`` of a benchmark, the functions its module exports
    and the registry calls: every benchmark loads and checks through :func:`load` and
    :func:`check`, so only their names and docstrings differ."""

    def load_benchmark(
        data_root: str | os.PathLike[str] | None = None,
        image_size: int = DEFAULT_IMAGE_SIZE,
        progress: bool = True,
    ) -> FewShotDataset:
        return load(bench, data_root, image_size, progress)

    def check_benchmark(data_root: str | os.PathLike[str] | None = None) -> DataCheck:
        return check(bench, data_root)

    load_benchmark.__doc__ = (
        f"{bench.title} ({bench.expected_counts()}), uint8 ``[N, 3, S, S]``.\n\n"
        f"Reads ``<data_root>/{bench.name}/cxgrad-cache-<S>/`` when ``cxgrad data prepare`` "
        "made one (seconds, memory-mapped), else any accepted raw copy there (minutes: every "
        f"image is decoded). {bench.description}"
    )
    check_benchmark.__doc__ = (
        f"What is under ``<data_root>/{bench.name}/``, in which format, and what is missing."
    )
    for function, verb in ((load_benchmark, "load"), (check_benchmark, "check")):
        function.__name__ = function.__qualname__ = f"{verb}_{bench.name}"
        function.__module__ = bench.locate.__module__  # the dataset's module exports them
    return load_benchmark, check_benchmark


def load(
    bench: Benchmark,
    data_root: str | os.PathLike[str] | None,
    image_size: int,
    progress: bool,
) -> FewShotDataset:
    """The benchmark from its cache when there is one, else from the raw files."""
    image_size = check_image_size(image_size, bench.title, DEFAULT_IMAGE_SIZE)
    root = resolve_data_root(data_root)
    folder = root / bench.name
    cache = cache_dir(folder, image_size)
    if cache.is_dir():
        splits, info = read_cache(cache, SPLITS, image_size, _cache_fix(bench, cache))
        _validate_splits(bench, f"the cache {cache}", splits, _cache_fix(bench, cache))
        origin, fmt = f"cache {cache} (made from {info.get('source', '?')})", "cache"
    else:
        source = bench.locate(folder)
        if source is None:
            raise DataError(_missing_message(bench, folder, root, data_root, image_size))
        splits = decode_source(bench, source, image_size, progress)
        origin, fmt = source.describe(), source.format
    return _dataset(bench, splits, image_size, root, origin, fmt)


def decode_source(
    bench: Benchmark, source: Source, image_size: int, progress: bool
) -> dict[str, SplitArrays]:
    """Validate a copy's layout (cheaply, before minutes of decoding), then decode it."""
    validate(bench, source, source.survey())
    splits = source.read(image_size, progress)
    _validate_splits(bench, source.describe(), splits, source.fix)
    return splits


def prepare(
    bench: Benchmark,
    source_path: str | os.PathLike[str],
    data_root: str | os.PathLike[str] | None,
    image_size: int,
    progress: bool,
) -> Path:
    """Decode the copy at ``source_path`` (any accepted format) into the fast cache."""
    image_size = check_image_size(image_size, bench.title, DEFAULT_IMAGE_SIZE)
    path = Path(source_path).expanduser().absolute()
    if not path.exists():
        raise DataError(
            f"--source {path} does not exist. Give the file or folder you downloaded for "
            f"{bench.title}; accepted: {'; '.join(bench.layouts(Path('<source>')))}."
        )
    source = bench.locate(path)
    if source is None and (path / bench.name).is_dir():  # a data root given as the source
        source = bench.locate(path / bench.name)
    if source is None:
        raise DataError(_unrecognised_message(bench, path))
    splits = decode_source(bench, source, image_size, progress)
    folder = resolve_data_root(data_root) / bench.name
    return write_cache(
        cache_dir(folder, image_size), bench.name, image_size, splits, source.describe()
    )


def check(bench: Benchmark, data_root: str | os.PathLike[str] | None) -> DataCheck:
    """Report the caches and the raw copy under the data root; never decodes images."""
    root = resolve_data_root(data_root)
    folder = root / bench.name
    lines = [f"{bench.title} under {folder} (data root {data_root_origin(data_root)}):"]
    cached = False
    for size in cached_sizes(folder):
        good, report = _check_cache(bench, cache_dir(folder, size), size)
        cached |= good
        lines.extend(report)
    try:
        source = bench.locate(folder) if folder.exists() else None
    except DataError as exc:  # e.g. an archive too damaged to open
        lines.extend(["  raw files: INVALID", *_indent(str(exc))])
        return DataCheck(cached, "\n".join(lines))
    if source is None:
        lines.append(
            "  raw files: MISSING" + (" (not needed: the cache is used)" if cached else "")
        )
        ok = cached
    else:
        raw_ok, report = _check_source(bench, source, cached)
        ok = cached or raw_ok
        lines.extend(report)
    if source is None and not ok:
        lines.append(f"  Expected {bench.expected_counts()}. Put one of these there:")
        lines.extend(f"    - {layout}" for layout in bench.layouts(folder))
        lines.append(f"  Get it: {bench.get_it}")
        lines.append("  " + _prepare_hint(bench, folder))
        lines.append("  " + root_hint(root, data_root))
    return DataCheck(ok, "\n".join(lines))


# ----------------------------------------------------------------------------- validation


def validate(bench: Benchmark, source: Source, survey: Survey) -> None:
    """DataError naming each missing split, wrong class count or empty class."""
    problems = [f"{split}: missing {what}" for split, what in survey.missing.items()]
    problems += survey.problems
    for split, classes in survey.classes.items():
        where = survey.where.get(split, "?")
        if len(classes) != bench.expected[split]:
            problems.append(
                f"{split} ({where}): {len(classes)} classes, expected {bench.expected[split]}"
            )
        empty = [name for name, n in classes.items() if n == 0]
        if empty:
            problems.append(f"{split} ({where}): classes without images: {few(empty)}")
    if problems:
        raise DataError(_invalid_message(bench, source.describe(), problems, source.fix))


def _validate_splits(bench: Benchmark, what: str, splits: dict[str, SplitArrays], fix: str) -> None:
    """The decoded (or cached) splits still have the expected classes, none empty."""
    problems = []
    for split in SPLITS:
        arrays = splits.get(split)
        if arrays is None:
            problems.append(f"{split}: missing")
        elif len(arrays.class_names) != bench.expected[split]:
            problems.append(
                f"{split}: {len(arrays.class_names)} classes, expected {bench.expected[split]}"
            )
        elif min(arrays.counts, default=0) < 1:
            problems.append(f"{split}: classes without images")
    if problems:
        raise DataError(_invalid_message(bench, what, problems, fix))


def _invalid_message(bench: Benchmark, what: str, problems: list[str], fix: str) -> str:
    return "\n".join(
        [
            f"{bench.title} at {what} is incomplete or not the standard split; expected "
            f"{bench.expected_counts()}:",
            *(f"  - {p}" for p in problems),
            fix,
        ]
    )


# ------------------------------------------------------------------------------ reporting


def _check_cache(bench: Benchmark, cache: Path, size: int) -> tuple[bool, list[str]]:
    fix = _cache_fix(bench, cache)
    try:
        splits, _ = read_cache(cache, SPLITS, size, fix)
        _validate_splits(bench, f"the cache {cache}", splits, fix)
    except DataError as exc:
        return False, [f"  cache {cache.name}: INVALID", *_indent(str(exc))]
    counts = ", ".join(
        f"{s} {len(a.class_names)} classes ({len(a.images):,} images)" for s, a in splits.items()
    )
    return True, [f"  cache {cache.name}: OK, {size}x{size}, {counts}"]


def _check_source(bench: Benchmark, source: Source, cached: bool) -> tuple[bool, list[str]]:
    """Survey the raw copy (no image is decoded); ``cached``: a good cache exists."""
    try:
        survey = source.survey()
        validate(bench, source, survey)
    except DataError as exc:
        return False, [f"  raw files: INVALID ({source.describe()})", *_indent(str(exc))]
    lines = [f"  raw files: OK, {source.describe()}: {survey.counts()}"]
    if not cached:
        lines.append(
            f"    (images are decoded when loaded; `cxgrad data prepare {bench.name} --source "
            f"{source.path}` once makes loading take seconds)"
        )
    return True, lines


def _indent(text: str) -> list[str]:
    return ["    " + line for line in text.splitlines()]


def _missing_message(
    bench: Benchmark, folder: Path, root: Path, data_root_arg: object, image_size: int
) -> str:
    other_sizes = cached_sizes(folder)
    if other_sizes:  # only the requested size is missing: say which ones are there
        found = "; ".join(
            f"found a {s}x{s} cache at {cache_dir(folder, s)}; use --image-size {s}"
            for s in other_sizes
        )
        return (
            f"{bench.title} at {image_size}x{image_size}: no {cache_dir(folder, image_size).name} "
            f"and no raw files under {folder} to decode at that size; {found} (or put the raw "
            f"files there, or run `cxgrad data prepare {bench.name} --source PATH "
            f"--image-size {image_size}`)."
        )
    return "\n".join(
        [
            f"{bench.title} not found under {folder}: no cache and no raw files there.",
            f"Expected {bench.expected_counts()}. Put one of these there:",
            *(f"  - {layout}" for layout in bench.layouts(folder)),
            f"Get it: {bench.get_it}",
            _prepare_hint(bench, folder),
            root_hint(root, data_root_arg),
        ]
    )


def _unrecognised_message(bench: Benchmark, path: Path) -> str:
    return "\n".join(
        [
            f"no {bench.title} copy recognised at {path}. Expected "
            f"{bench.expected_counts()}, in one of these layouts:",
            *(f"  - {layout}" for layout in bench.layouts(path)),
            f"Get it: {bench.get_it}",
        ]
    )


def _prepare_hint(bench: Benchmark, folder: Path) -> str:
    return (
        f"Then optionally run `cxgrad data prepare {bench.name} --source PATH` (PATH: the "
        f"file or folder you downloaded, wherever it is) to decode it once into "
        f"{cache_dir(folder, DEFAULT_IMAGE_SIZE)}/, which loads in seconds."
    )


def _cache_fix(bench: Benchmark, cache: Path) -> str:
    return (
        f"Delete {cache} and run `cxgrad data prepare {bench.name} --source PATH` again "
        f"(without the cache, the raw files under {cache.parent} are read instead)."
    )


# ------------------------------------------------------------------------------- building


def _dataset(
    bench: Benchmark,
    splits: dict[str, SplitArrays],
    image_size: int,
    root: Path,
    origin: str,
    fmt: str,
) -> FewShotDataset:
    class_images = {s: splits[s].class_images(bench.mean, bench.std) for s in SPLITS}
    normalization = None
    if bench.mean is not None:
        normalization = {"mean": list(bench.mean), "std": list(bench.std or ())}
    info: dict = {
        "image_size": image_size,
        "data_root": str(root),
        "source": origin,
        "format": fmt,
        "resample": RESAMPLE_NAME,
        "normalization": normalization,
    }
    groups = {
        s: dict(zip(a.class_names, a.super_categories, strict=True))
        for s, a in splits.items()
        if a.super_categories is not None
    }
    if groups:
        info["super_categories"] = groups
    counts = ", ".join(f"{s} {len(splits[s].class_names)}" for s in SPLITS)
    description = f"{bench.description} Classes: {counts}. Images {image_size}x{image_size} RGB."
    return FewShotDataset(bench.name, class_images, description=description, info=info)
