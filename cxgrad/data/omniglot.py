"""Omniglot (Lake et al., Science 2015): 1,623 handwritten characters from 50 alphabets.

The data comes as two official zips, ``images_background`` (30 alphabets) and
``images_evaluation`` (20 alphabets). Each can sit under ``<data_root>/omniglot/`` either
as the zip itself (read in place, nothing is extracted, so a read-only data root works) or
as its extracted folder. Both parts are validated against the official layout before use,
because a half-extracted or truncated copy otherwise shows up much later as a silently
smaller benchmark.

Images are decoded once per process and kept as uint8 (white background 255, ink 0, as in
the official files); a second load in the same process is a dictionary lookup.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cxgrad.data._files import FileTree, ZipTree, check_image_size, decode_plan, open_tree
from cxgrad.data._messages import few, root_hint
from cxgrad.data._paths import data_root_origin, resolve_data_root
from cxgrad.data.base import ClassImages, FewShotDataset
from cxgrad.data.registry import DataCheck
from cxgrad.errors import DataError

OFFICIAL_URL = "https://raw.githubusercontent.com/brendenlake/omniglot/master/python/"
PARTS = ("images_background", "images_evaluation")
# md5 of the official downloads (as torchvision records them). Only downloads are checked
# against them: re-zipped copies hold the same images under other checksums, so local zips
# are validated by content instead.
OFFICIAL_MD5 = {
    "images_background": "68d2efa1b9178cc56df9314c21c6e718",
    "images_evaluation": "6b91aef0f799c5bb55b94e3f2daec811",
}
# The official layout: part -> alphabet -> number of characters (named character01..NN).
# Validation compares against it, so a missing alphabet or character can be named.
# Tests replace it (monkeypatch) with a tiny layout to exercise the loader quickly.
OFFICIAL_LAYOUT: dict[str, dict[str, int]] = {
    "images_background": {
        "Alphabet_of_the_Magi": 20,
        "Anglo-Saxon_Futhorc": 29,
        "Arcadian": 26,
        "Armenian": 41,
        "Asomtavruli_(Georgian)": 40,
        "Balinese": 24,
        "Bengali": 46,
        "Blackfoot_(Canadian_Aboriginal_Syllabics)": 14,
        "Braille": 26,
        "Burmese_(Myanmar)": 34,
        "Cyrillic": 33,
        "Early_Aramaic": 22,
        "Futurama": 26,
        "Grantha": 43,
        "Greek": 24,
        "Gujarati": 48,
        "Hebrew": 22,
        "Inuktitut_(Canadian_Aboriginal_Syllabics)": 16,
        "Japanese_(hiragana)": 52,
        "Japanese_(katakana)": 47,
        "Korean": 40,
        "Latin": 26,
        "Malay_(Jawi_-_Arabic)": 40,
        "Mkhedruli_(Georgian)": 41,
        "N_Ko": 33,
        "Ojibwe_(Canadian_Aboriginal_Syllabics)": 14,
        "Sanskrit": 42,
        "Syriac_(Estrangelo)": 23,
        "Tagalog": 17,
        "Tifinagh": 55,
    },
    "images_evaluation": {
        "Angelic": 20,
        "Atemayar_Qelisayer": 26,
        "Atlantean": 26,
        "Aurek-Besh": 26,
        "Avesta": 26,
        "Ge_ez": 26,
        "Glagolitic": 45,
        "Gurmukhi": 45,
        "Kannada": 41,
        "Keble": 26,
        "Malayalam": 47,
        "Manipuri": 40,
        "Mongolian": 30,
        "Old_Church_Slavonic_(Cyrillic)": 45,
        "Oriya": 46,
        "Sylheti": 28,
        "Syriac_(Serto)": 23,
        "Tengwar": 25,
        "Tibetan": 42,
        "ULOG": 26,
    },
}
IMAGES_PER_CHARACTER = 20
DEFAULT_IMAGE_SIZE = 28

SPLITS = ("alphabet", "maml")
VAL_ALPHABETS = 5  # "alphabet" split: the first 5 evaluation alphabets (sorted) validate
MAML_SEED = 0  # "maml" split: fixed permutation of the 1,623 pooled characters
MAML_TRAIN = 1100
MAML_VAL = 100

_CACHE_SIZE = 4  # decoded parts kept in memory (each ~10 MB at 28x28)


@dataclass(frozen=True)
class _PartImages:
    """One decoded part: ``IMAGES_PER_CHARACTER`` consecutive rows per character."""

    names: tuple[str, ...]  # "Alphabet/characterNN", sorted
    images: torch.Tensor  # uint8 [len(names) * IMAGES_PER_CHARACTER, 1, S, S]
    source: str  # the zip or extracted folder it was decoded from, in words


_CACHE: OrderedDict[tuple, _PartImages] = OrderedDict()


# ----------------------------------------------------------------------------- public API


def load_omniglot(
    data_root: str | os.PathLike[str] | None = None,
    split: str = "alphabet",
    image_size: int = DEFAULT_IMAGE_SIZE,
    rotations: bool | None = None,
    download: bool = True,
    progress: bool = True,
) -> FewShotDataset:
    """Omniglot as a ``FewShotDataset`` with class-disjoint train/val/test splits.

    ``split="alphabet"``: train = the 964 characters of the 30 background alphabets, val =
    the first 5 evaluation alphabets (sorted by name), test = the other 15; no alphabet is
    shared between splits, so test characters come from scripts never seen in training.
    ``split="maml"``: the protocol of Vinyals et al. / MAML / MAML++: the 1,623 characters
    pooled and permuted with a fixed seed, 1,100 train, 100 val, 423 test, with rotations
    by default. ``rotations=None`` takes the split's default (off for "alphabet").
    """
    if split not in SPLITS:
        raise DataError(f"unknown Omniglot split {split!r}; choose one of: {', '.join(SPLITS)}")
    image_size = check_image_size(image_size, "Omniglot", DEFAULT_IMAGE_SIZE)
    if rotations is None:
        rotations = split == "maml"
    root = resolve_data_root(data_root)
    parts = _load_parts(root, data_root, image_size, download=download, progress=progress)
    names, images = _catalog(parts)
    builder = _alphabet_split if split == "alphabet" else _maml_split
    indices, description = builder(names)
    splits = {
        key: _class_images(names, images, idx, bool(rotations), key, split)
        for key, idx in indices.items()
    }
    if rotations:
        description += " Each character also appears rotated by 90, 180 and 270 degrees."
    info = {
        "split": split,
        "image_size": image_size,
        "rotations": bool(rotations),
        "data_root": str(root),
        "sources": {p: parts[p].source for p in PARTS},
    }
    return FewShotDataset("omniglot", splits, description=description, info=info)


def check_omniglot(
    data_root: str | os.PathLike[str] | None = None, progress: bool = False
) -> DataCheck:
    """Find and fully validate both parts (every image is decoded); never downloads.

    The message says what was found where, or what is missing and how to get it.
    """
    root = resolve_data_root(data_root)
    folder = _omniglot_dir(root)
    lines = [f"Omniglot under {folder} (data root {data_root_origin(data_root)}):"]
    ok = True
    for part in PARTS:
        path = _locate(folder, part)
        if path is None:
            ok = False
            lines.append(f"  {part}: MISSING")
            lines.extend("    " + line for line in _where_to_put(folder, part))
            continue
        try:
            loaded = _load_part(path, part, DEFAULT_IMAGE_SIZE, progress)
        except DataError as exc:
            ok = False
            lines.append(f"  {part}: INVALID ({path})")
            lines.extend("    " + line for line in str(exc).splitlines())
            continue
        alphabets = len({n.split("/")[0] for n in loaded.names})
        lines.append(
            f"  {part}: OK, {alphabets} alphabets, {len(loaded.names)} characters, "
            f"{len(loaded.images):,} images, from {loaded.source}"
        )
    if not ok:
        lines.append(root_hint(root, data_root))
    return DataCheck(ok=ok, message="\n".join(lines))


# ---------------------------------------------------------------------- locating the files


def _omniglot_dir(root: Path) -> Path:
    return root / "omniglot"


def _locate(folder: Path, part: str) -> Path | None:
    """The extracted folder if present (it is what a user edits by hand), else the zip."""
    extracted = folder / part
    if (extracted / part).is_dir():  # unzipped into a folder named like the zip
        extracted = extracted / part
    if extracted.is_dir():
        return extracted
    archive = folder / f"{part}.zip"
    if archive.is_file():
        return archive
    return None


def _where_to_put(folder: Path, part: str) -> list[str]:
    return [
        f"put {folder / (part + '.zip')}",
        f"  or its extracted folder {folder / part}/<Alphabet>/characterNN/*.png",
        f"  official URL: {OFFICIAL_URL}{part}.zip",
    ]


def _missing_message(folder: Path, missing: list[str], reason: str, root_hint: str) -> str:
    files = " and ".join(f"{p}.zip" for p in missing)
    lines = [f"Omniglot is missing {files} under {folder}: {reason}.", "To fix it:"]
    for part in missing:
        lines.extend("  " + line for line in _where_to_put(folder, part))
    lines.append(root_hint)
    return "\n".join(lines)


def _download(folder: Path, missing: list[str], root_hint: str) -> None:
    """Fetch the missing official zips (md5-checked); DataError with instructions if not."""
    failures, failed_parts = [], []
    for part in missing:
        target = folder / f"{part}.zip"
        try:
            download_url(OFFICIAL_URL + target.name, str(folder), target.name, OFFICIAL_MD5[part])
        except Exception as exc:  # network, checksum, permissions: all end the same way
            failures.append(f"{target.name}: {type(exc).__name__}: {exc}")
            failed_parts.append(part)
            _remove_quietly(target)  # a half-written or wrong file would be taken as data
    if failures:
        reason = "the automatic download failed (" + "; ".join(failures) + ")"
        raise DataError(_missing_message(folder, failed_parts, reason, root_hint))


def download_url(url: str, root: str, filename: str, md5: str) -> None:
    """torchvision's ``download_url`` (it verifies the md5), imported on first use.

    torchvision takes about a second to import and only this rare path needs it. Tests may
    replace either this function or torchvision's to simulate an offline machine.
    """
    from torchvision.datasets.utils import download_url as torchvision_download_url

    torchvision_download_url(url, root, filename, md5)


def _remove_quietly(path: Path) -> None:
    with suppress(OSError):
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------- listing and validating


def _list_images(tree: FileTree, part: str) -> dict[tuple[str, str], list[str]]:
    """``(alphabet, character) -> sorted image names`` in the part's zip or folder."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name in tree.names():
        key = _image_key(name.split("/"), part)
        if key is not None:
            groups.setdefault(key, []).append(name)
    for names in groups.values():
        names.sort()
    return groups


def _image_key(parts: Iterable[str], part: str) -> tuple[str, str] | None:
    """``(alphabet, character)`` of an image path, None for anything else (macOS junk...)."""
    parts = list(parts)
    if parts and parts[0] == part:  # the official zips hold a top folder named as the part
        parts = parts[1:]
    if len(parts) != 3 or any(p.startswith((".", "__MACOSX")) for p in parts):
        return None
    alphabet, character, filename = parts
    return (alphabet, character) if filename.lower().endswith(".png") else None


def _validate_layout(tree: FileTree, part: str, groups: dict[tuple[str, str], list[str]]) -> None:
    """DataError naming what is missing or short, compared with ``OFFICIAL_LAYOUT``."""
    expected = OFFICIAL_LAYOUT[part]
    found_alphabets = {a for a, _ in groups}
    problems = []
    missing_alphabets = sorted(set(expected) - found_alphabets)
    if missing_alphabets:
        problems.append(
            f"alphabets missing ({len(missing_alphabets)} of {len(expected)}): "
            + few(missing_alphabets)
        )
    unexpected = sorted(found_alphabets - set(expected))
    if unexpected:
        problems.append(f"alphabets that are not part of {part}: " + few(unexpected))
    missing_chars, extra_chars = [], []
    for alphabet in sorted(set(expected) & found_alphabets):
        want = {f"character{i:02d}" for i in range(1, expected[alphabet] + 1)}
        have = {c for a, c in groups if a == alphabet}
        missing_chars += [f"{alphabet}/{c}" for c in sorted(want - have)]
        extra_chars += [f"{alphabet}/{c}" for c in sorted(have - want)]
    if missing_chars:
        problems.append(f"characters missing ({len(missing_chars)}): " + few(missing_chars))
    if extra_chars:
        problems.append("unexpected character folders: " + few(extra_chars))
    short = [
        f"{a}/{c} ({len(refs)} images)"
        for (a, c), refs in sorted(groups.items())
        if len(refs) != IMAGES_PER_CHARACTER
    ]
    if short:
        problems.append(
            f"characters without exactly {IMAGES_PER_CHARACTER} PNG images ({len(short)}): "
            + few(short)
        )
    if problems:
        raise DataError(_layout_message(tree, part, groups, problems))


def _layout_message(
    tree: FileTree, part: str, groups: dict[tuple[str, str], list[str]], problems: list[str]
) -> str:
    expected = OFFICIAL_LAYOUT[part]
    n_images = sum(len(refs) for refs in groups.values())
    lines = [
        f"Omniglot {part} at {tree.describe()} is incomplete or not the official "
        f"data: expected {len(expected)} alphabets, {sum(expected.values())} characters, "
        f"{IMAGES_PER_CHARACTER} PNG images each; found {len({a for a, _ in groups})} "
        f"alphabets, {len(groups)} characters, {n_images:,} images.",
        *("  - " + p for p in problems),
        f"Fix: replace it with the official {part}.zip from "
        f"{OFFICIAL_URL}{part}.zip (or its complete extracted folder).",
    ]
    other_zip = tree.path.parent / f"{part}.zip"
    if not isinstance(tree, ZipTree) and other_zip.is_file():
        lines.append(
            f"Note: {other_zip} is also there, but the extracted folder takes precedence; "
            "delete or rename the folder to use the zip."
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------- decoding


def _load_parts(
    root: Path, data_root_arg: object, image_size: int, download: bool, progress: bool
) -> dict[str, _PartImages]:
    folder = _omniglot_dir(root)
    sources = {part: _locate(folder, part) for part in PARTS}
    missing = [part for part, source in sources.items() if source is None]
    if missing:
        hint = root_hint(root, data_root_arg)
        if not download:
            reason = "downloading is turned off (download=False)"
            raise DataError(_missing_message(folder, missing, reason, hint))
        _download(folder, missing, hint)
        sources = {part: _locate(folder, part) for part in PARTS}
    loaded = {}
    for part, source in sources.items():
        if source is None:  # the downloader reported success but left no file
            reason = f"the download left no {folder / (part + '.zip')}"
            raise DataError(
                _missing_message(folder, [part], reason, root_hint(root, data_root_arg))
            )
        loaded[part] = _load_part(source, part, image_size, progress)
    return loaded


def _load_part(path: Path, part: str, image_size: int, progress: bool) -> _PartImages:
    """Decoded part, from the in-process cache when the same files were decoded before."""
    stat = path.stat()
    layout = tuple(sorted(OFFICIAL_LAYOUT[part].items()))
    key = (str(path), stat.st_mtime_ns, stat.st_size, image_size, layout)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    loaded = _decode_part(path, part, image_size, progress)
    _CACHE[key] = loaded
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return loaded


def _decode_part(path: Path, part: str, image_size: int, progress: bool) -> _PartImages:
    """Validate the part's layout, then decode it greyscale with the shared Lanczos resize
    (Lanczos keeps thin strokes visible), characters sorted, images sorted by file name."""
    fix = (
        f"The copy at {path} is damaged: replace it with the official {part}.zip from "
        f"{OFFICIAL_URL}{part}.zip (re-download it)."
    )
    tree = open_tree(path, fix)
    groups = _list_images(tree, part)
    _validate_layout(tree, part, groups)
    plan = {part: {f"{a}/{c}": groups[a, c] for a, c in sorted(groups)}}
    title = f"Omniglot {part}"
    arrays = decode_plan(tree, plan, image_size, progress, title, fix, mode="L")[part]
    return _PartImages(tuple(plan[part]), torch.from_numpy(arrays.images), tree.describe())


# --------------------------------------------------------------------------------- splits


def _catalog(parts: dict[str, _PartImages]) -> tuple[list[str], torch.Tensor]:
    """All characters of both parts: names and images ``[n_chars, IMAGES_PER_CHARACTER, ...]``."""
    names = [name for part in PARTS for name in parts[part].names]
    images = torch.cat([parts[part].images for part in PARTS])
    return names, images.view(len(names), IMAGES_PER_CHARACTER, *images.shape[1:])


def _alphabet_split(names: list[str]) -> tuple[dict[str, list[int]], str]:
    background = set(OFFICIAL_LAYOUT["images_background"])
    evaluation = sorted(OFFICIAL_LAYOUT["images_evaluation"])
    val_alphabets = set(evaluation[:VAL_ALPHABETS])

    def indices(keep: set[str]) -> list[int]:
        return [i for i, name in enumerate(names) if name.split("/")[0] in keep]

    splits = {
        "train": indices(background),
        "val": indices(val_alphabets),
        "test": indices(set(evaluation[VAL_ALPHABETS:])),
    }
    description = (
        f"Omniglot, alphabet split: train = the {len(background)} background alphabets "
        f"({len(splits['train'])} characters), val = the first {VAL_ALPHABETS} evaluation "
        f"alphabets by name ({len(splits['val'])} characters), test = the other "
        f"{len(evaluation) - VAL_ALPHABETS} ({len(splits['test'])} characters). No alphabet "
        "is shared between splits, so test characters come from unseen scripts."
    )
    return splits, description


def _maml_split(names: list[str]) -> tuple[dict[str, list[int]], str]:
    order = sorted(range(len(names)), key=names.__getitem__)
    if len(order) <= MAML_TRAIN + MAML_VAL:
        raise DataError(
            f"the maml split needs more than {MAML_TRAIN + MAML_VAL} characters, found {len(order)}"
        )
    perm = np.random.Generator(np.random.PCG64(MAML_SEED)).permutation(len(order))
    pooled = [order[i] for i in perm]
    cut = MAML_TRAIN + MAML_VAL
    by_name = names.__getitem__
    splits = {
        "train": sorted(pooled[:MAML_TRAIN], key=by_name),
        "val": sorted(pooled[MAML_TRAIN:cut], key=by_name),
        "test": sorted(pooled[cut:], key=by_name),
    }
    description = (
        f"Omniglot, MAML split (Vinyals et al. 2016, Finn et al. 2017, Antoniou et al. 2019): "
        f"all {len(names)} characters pooled and permuted with a fixed seed "
        f"(PCG64({MAML_SEED})); {MAML_TRAIN} train, {MAML_VAL} val, "
        f"{len(splits['test'])} test characters. Alphabets are shared between splits."
    )
    return splits, description


def _class_images(
    names: list[str],
    images: torch.Tensor,
    indices: list[int],
    rotations: bool,
    split_name: str,
    protocol: str,
) -> ClassImages:
    if not indices:
        raise DataError(f"the Omniglot {protocol!r} split leaves no characters for {split_name!r}")
    picked = images[torch.tensor(indices)]
    offsets = torch.arange(len(indices) + 1, dtype=torch.int64) * IMAGES_PER_CHARACTER
    return ClassImages(
        picked.reshape(-1, *images.shape[2:]), offsets, [names[i] for i in indices], rotations
    )
