"""Reading datasets' files: folders, zips and tars alike, and decoding images.

Omniglot, miniImageNet, tieredImageNet, CUB and CIFAR-FS come as folders, zips, tars or
pickles. Everything here is shared by their loaders, so that one image is decoded, resized
and reported the same way whatever container it came in:

* a :class:`FileTree` lists and reads files by relative name, in a folder, a zip (read in
  place) or a tar (streamed once, as a gzipped tar has no random access);
* :func:`decode_image` turns encoded bytes into uint8 ``[C, S, S]`` (RGB, or grey for
  Omniglot) with PIL's resize, as the authors' code does (see ``RESAMPLE`` for the filter);
* :func:`decode_plan` decodes a whole "split -> class -> files" plan into
  :class:`SplitArrays`, the in-memory form that caches store and ``ClassImages`` wraps.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from cxgrad.data.base import ClassImages
from cxgrad.errors import DataError

# The resampling filter. MAML++'s loader, which the authors' code extends, resizes RGB
# images with ``Image.resize((84, 84))`` and PIL's default filter (bicubic since Pillow 7,
# nearest before), Omniglot with Lanczos. We use Lanczos throughout: it is at least as
# sharp as bicubic when CUB's ~500 px photos shrink to 84 px, and smooth when CIFAR's
# 32 px images are upsampled. miniImageNet and tieredImageNet pickles are already 84x84
# and are not resampled at all at the default size.
RESAMPLE = Image.Resampling.LANCZOS
RESAMPLE_NAME = "lanczos"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")

# split -> class name -> image references (names in a FileTree), in load order.
Plan = dict[str, dict[str, list[str]]]


def is_image_name(name: str) -> bool:
    """An image file name, not macOS metadata (``._x.jpg``, ``__MACOSX/``) or hidden files."""
    parts = name.split("/")
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return False
    return parts[-1].lower().endswith(IMAGE_EXTENSIONS)


def check_image_size(image_size: object, title: str, default: int = 84) -> int:
    """``image_size`` as a positive int; DataError naming the value and the usual size."""
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 1:
        raise DataError(
            f"image_size must be a positive integer, got {image_size!r}; {title} is "
            f"usually used at {default} ({default}x{default} pixels)."
        )
    return image_size


# ------------------------------------------------------------------------- decoded splits


@dataclass
class SplitArrays:
    """One decoded split: uint8 ``images [N, C, S, S]``, class ``c`` owning rows
    ``offsets[c]:offsets[c + 1]``; ``super_categories`` (one per class) when the source
    has them (tieredImageNet's pickles)."""

    images: np.ndarray
    offsets: np.ndarray
    class_names: list[str]
    super_categories: list[str] | None = None

    @property
    def counts(self) -> list[int]:
        return np.diff(self.offsets).tolist()

    def class_images(
        self, mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None
    ) -> ClassImages:
        """The split as ``ClassImages``, sharing memory with ``images`` (no copy)."""
        return ClassImages(
            torch.from_numpy(self.images),
            torch.from_numpy(np.asarray(self.offsets, dtype=np.int64)),
            list(self.class_names),
            mean=mean,
            std=std,
        )


def offsets_of(counts: Iterable[int]) -> np.ndarray:
    """``[0, c0, c0 + c1, ...]`` as int64: where each class starts."""
    return np.concatenate([[0], np.cumsum(list(counts), dtype=np.int64)]).astype(np.int64)


# ------------------------------------------------------------------------------- decoding


def decode_image(
    data: bytes, image_size: int, where: str, fix: str, mode: str = "RGB"
) -> np.ndarray:
    """Encoded image bytes -> uint8 ``[C, S, S]`` in PIL ``mode``, resized to ``S`` x ``S``.

    ``mode`` is "RGB" for the photo benchmarks (grey CUB photos and palette/alpha images
    are converted) and "L" for Omniglot's 1-bit drawings. Non-square photos are resized
    without cropping, as the authors' code does. ``where`` names the file in the error
    message; ``fix`` says what to do about it.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            return _resized(img.convert(mode), image_size)
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, zlib.error...
        raise DataError(
            f"{where} is not a readable image ({type(exc).__name__}: {exc}). {fix}"
        ) from exc


def resize_array(image: np.ndarray, image_size: int) -> np.ndarray:
    """uint8 ``[H, W, 3]`` -> uint8 ``[3, S, S]`` (no resampling when already that size)."""
    if image.shape[:2] == (image_size, image_size):
        return np.ascontiguousarray(image.transpose(2, 0, 1))
    return _resized(Image.fromarray(image), image_size)


def _resized(img: Image.Image, image_size: int) -> np.ndarray:
    if img.size != (image_size, image_size):
        img = img.resize((image_size, image_size), RESAMPLE)
    pixels = np.asarray(img)
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def progress_bar(total: int | None, desc: str, progress: bool) -> tqdm:
    return tqdm(total=total, desc=desc, unit="img", disable=not progress, leave=False)


def decode_plan(
    tree: FileTree,
    plan: Plan,
    image_size: int,
    progress: bool,
    title: str,
    fix: str,
    mode: str = "RGB",
) -> dict[str, SplitArrays]:
    """Decode every image a plan names into one preallocated array per split.

    All splits are read in one pass over the tree: a gzipped tar can only be streamed, and
    reading it once per split would triple the time. ``mode``: see :func:`decode_image`.
    """
    channels = Image.getmodebands(mode)
    arrays: dict[str, SplitArrays] = {}
    slots: dict[str, list[tuple[np.ndarray, int]]] = {}  # a file listed twice fills two rows
    for split, classes in plan.items():
        counts = [len(refs) for refs in classes.values()]
        images = np.empty((sum(counts), channels, image_size, image_size), np.uint8)
        arrays[split] = SplitArrays(images, offsets_of(counts), list(classes))
        refs = (ref for class_refs in classes.values() for ref in class_refs)
        for row, ref in enumerate(refs):
            slots.setdefault(ref, []).append((images, row))
    with progress_bar(len(slots), title, progress) as bar:
        for ref, data in tree.read_many(slots):
            decoded = decode_image(data, image_size, tree.where(ref), fix, mode)
            for images, row in slots[ref]:
                images[row] = decoded
            bar.update(1)
    return arrays


# ---------------------------------------------------------------------------- file trees


class FileTree(ABC):
    """Files under one root, named by relative POSIX paths, whatever holds them.

    ``fix`` is appended to read errors: it tells the user how to replace a damaged copy.
    """

    kind = "folder"

    def __init__(self, path: Path, fix: str = "") -> None:
        self.path = path
        self.fix = fix

    def describe(self) -> str:
        return f"{self.path} ({self.kind})"

    @abstractmethod
    def names(self) -> list[str]:
        """Every file's relative name (directories excluded)."""

    @abstractmethod
    def read(self, name: str) -> bytes:
        """One file's bytes; DataError naming it if it cannot be read."""

    def read_many(self, names: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """``(name, bytes)`` for each of ``names``, in whatever order is fastest."""
        for name in names:
            yield name, self.read(name)

    def where(self, name: str) -> str:
        """How to name one file in a message."""
        return f"{name} inside {self.path}"

    def _read_error(self, name: str, exc: Exception) -> DataError:
        return DataError(
            f"cannot read {self.where(name)}: {type(exc).__name__}: {exc}. {self.fix}".rstrip()
        )


class FolderTree(FileTree):
    """An extracted folder. Hidden entries and cxgrad's own caches are skipped."""

    kind = "extracted folder"

    def names(self) -> list[str]:
        found = []
        for parent, dirs, files in os.walk(self.path):
            dirs[:] = [d for d in dirs if not d.startswith((".", "cxgrad-cache-"))]
            rel = Path(parent).relative_to(self.path).as_posix()
            prefix = "" if rel == "." else rel + "/"
            found.extend(prefix + f for f in files)
        return found

    def read(self, name: str) -> bytes:
        try:
            return (self.path / name).read_bytes()
        except OSError as exc:
            raise self._read_error(name, exc) from exc

    def where(self, name: str) -> str:
        return str(self.path / name)


class ZipTree(FileTree):
    """A zip read in place: nothing is extracted, so a read-only data root works."""

    kind = "zip"

    def __init__(self, path: Path, fix: str = "") -> None:
        super().__init__(path, fix)
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(
                f"{path} is not a readable zip file ({exc}); it is probably truncated or "
                f"corrupt. {fix}".rstrip()
            ) from exc

    def names(self) -> list[str]:
        return [info.filename for info in self._zip.infolist() if not info.is_dir()]

    def read(self, name: str) -> bytes:
        try:
            return self._zip.read(name)
        except Exception as exc:  # KeyError, bad CRC, zlib errors, truncated member...
            raise self._read_error(name, exc) from exc


class TarTree(FileTree):
    """A (gzipped) tar, streamed: listing it or reading from it costs one pass over it."""

    kind = "tar archive"

    def __init__(self, path: Path, fix: str = "") -> None:
        super().__init__(path, fix)
        self._names: list[str] | None = None

    def names(self) -> list[str]:
        if self._names is None:
            with self._open() as tar:
                self._names = [m.name for m in self._members(tar)]
        return self._names

    def read(self, name: str) -> bytes:
        return next(self.read_many([name]))[1]

    def read_many(self, names: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        wanted = set(names)
        with self._open() as tar:
            for member in self._members(tar):
                if member.name in wanted:
                    wanted.discard(member.name)
                    yield member.name, self._extract(tar, member)
                    if not wanted:
                        return
        if wanted:
            raise self._read_error(sorted(wanted)[0], FileNotFoundError("not in the archive"))

    def _open(self) -> tarfile.TarFile:
        try:
            return tarfile.open(self.path, "r:*")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(
                f"{self.path} is not a readable tar archive ({exc}); it is probably "
                f"truncated or corrupt. {self.fix}".rstrip()
            ) from exc

    def _members(self, tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
        try:
            for member in tar:
                if member.isfile():
                    yield member
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"{self.path} ends early or is damaged ({type(exc).__name__}: {exc}). "
                f"{self.fix}".rstrip()
            ) from exc

    def _extract(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
        try:
            handle = tar.extractfile(member)
            assert handle is not None  # members are regular files
            return handle.read()
        except Exception as exc:
            raise self._read_error(member.name, exc) from exc


def open_tree(path: Path, fix: str = "") -> FileTree:
    """The zip at ``path`` (read in place) or the extracted folder ``path``."""
    return ZipTree(path, fix) if path.is_file() else FolderTree(path, fix)


# --------------------------------------------------------------------------------- pickles


def load_pickle(path: Path, fix: str) -> Any:
    """Unpickle ``path``; many copies were written by Python 2, so bytes decode as latin1.

    With ``encoding="latin1"`` Python 2 ``str`` objects come back as ``str``; callers turn
    them back into bytes with :func:`as_bytes`. Unpickling can run code, which is why
    only the pickle formats the datasets are actually distributed in are read this way:
    point cxgrad at copies from sources you trust.
    """
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle, encoding="latin1")
    except Exception as exc:  # UnpicklingError, EOFError, ValueError, MemoryError...
        raise DataError(
            f"{path} is not a readable pickle ({type(exc).__name__}: {exc}); it is "
            f"probably truncated or corrupt. {fix}".rstrip()
        ) from exc


def as_bytes(item: object) -> bytes:
    """An encoded image as stored in a pickle (bytes, latin1 str, or uint8 array) as bytes."""
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    if isinstance(item, str):
        return item.encode("latin1")
    if isinstance(item, np.ndarray):
        return item.tobytes()
    raise TypeError(f"expected encoded image bytes, got {type(item).__name__}")


def plain_keys(mapping: dict) -> dict:
    """A dict whose bytes keys (``pickle`` with ``encoding="bytes"``) are made strings."""
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in mapping.items()}
