"""Fashion-MNIST (Xiao et al. 2017) as a cross-domain few-shot test set.

Ten classes of 28x28 grayscale clothing photos: a different domain from Omniglot's
handwriting, used by the course (chapter 7) the way the paper uses CUB and CIFAR-FS after
miniImageNet. With only ten classes it is for testing, not meta-training: ``test`` holds
the 10,000 images of the official test file, ``train`` and ``val`` split the official
training file (the same ten classes, so they are not class-disjoint from ``test``).

Files: the four official ``*-idx?-ubyte.gz`` files, looked for in
``<data_root>/fashion-mnist/``, ``<data_root>/FashionMNIST/raw/`` (where torchvision
downloads them) and ``/usr/share/datasets/fashion-mnist/`` (Debian's
``dataset-fashion-mnist`` package). When none has them, torchvision downloads them (with
checksums) into ``<data_root>/FashionMNIST/raw/``. Images keep their polarity (bright
object on a black background) and are resized only if ``image_size`` is not 28.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cxgrad.data._paths import resolve_data_root
from cxgrad.data.base import ClassImages, FewShotDataset
from cxgrad.data.registry import DataCheck
from cxgrad.errors import DataError

CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
SYSTEM_FOLDER = Path("/usr/share/datasets/fashion-mnist")
VALIDATION_IMAGES = 10_000  # the last 10,000 of the training file


def candidate_folders(data_root: str | Path | None) -> list[Path]:
    root = resolve_data_root(data_root)
    return [root / "fashion-mnist", root / "FashionMNIST" / "raw", SYSTEM_FOLDER]


def _find(data_root: str | Path | None) -> Path | None:
    needed = [name for pair in FILES.values() for name in pair]
    for folder in candidate_folders(data_root):
        if all((folder / name).is_file() for name in needed):
            return folder
    return None


def _download(data_root: str | Path | None) -> Path:
    root = resolve_data_root(data_root)
    try:
        from torchvision.datasets import FashionMNIST

        FashionMNIST(str(root), train=True, download=True)
        FashionMNIST(str(root), train=False, download=True)
    except Exception as err:  # no network, checksum mismatch, read-only root...
        folders = "\n  ".join(str(f) for f in candidate_folders(data_root))
        raise DataError(
            f"Fashion-MNIST is not on disk and could not be downloaded ({err}). Put the four "
            f"official files ({', '.join(n for p in FILES.values() for n in p)}) into one "
            f"of:\n  {folders}\n(on Debian/Ubuntu: apt-get install dataset-fashion-mnist), or "
            "choose the data root with --data-root / CXGRAD_DATA_ROOT."
        ) from err
    return root / "FashionMNIST" / "raw"


def _read_idx(path: Path, expected_dims: int) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as err:
        raise DataError(f"{path} is not a readable gzip file ({err}); download it again") from err
    dims = data[3] if len(data) > 4 else -1
    if data[:2] != b"\x00\x00" or data[2] != 0x08 or dims != expected_dims:
        raise DataError(f"{path} is not an idx file of {expected_dims} dimension(s)")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise DataError(
            f"{path} is truncated: expected {int(np.prod(shape))} values, got "
            f"{body.size}; download it again"
        )
    return body.reshape(shape)


def _classes(images: np.ndarray, labels: np.ndarray, image_size: int, name: str) -> ClassImages:
    x = torch.from_numpy(images.copy()).unsqueeze(1)
    if image_size != x.shape[-1]:
        x = (
            F.interpolate(
                x.float(),
                size=(image_size, image_size),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
            .round()
            .clamp(0, 255)
            .byte()
        )
    per_class = [x[torch.from_numpy(labels == c)] for c in range(len(CLASSES))]
    return ClassImages.from_list(per_class, [f"{name}/{c}" for c in CLASSES])


def load_fashion_mnist(
    data_root: str | Path | None = None,
    image_size: int = 28,
    download: bool = True,
    progress: bool = True,
) -> FewShotDataset:
    """The ten Fashion-MNIST classes as uint8 ``[n, 1, S, S]`` images (see module doc)."""
    del progress  # decoding takes well under a second
    folder = _find(data_root) or (_download(data_root) if download else None)
    if folder is None:
        raise DataError(check_fashion_mnist(data_root).message)
    parts = {}
    for part, (images_name, labels_name) in FILES.items():
        images = _read_idx(folder / images_name, 3)
        labels = _read_idx(folder / labels_name, 1)
        if len(images) != len(labels):
            raise DataError(f"{folder}: {images_name} and {labels_name} disagree in length")
        parts[part] = (images, labels)
    train_x, train_y = parts["train"]
    cut = len(train_x) - VALIDATION_IMAGES
    splits = {
        "train": _classes(train_x[:cut], train_y[:cut], image_size, "train"),
        "val": _classes(train_x[cut:], train_y[cut:], image_size, "val"),
        "test": _classes(*parts["test"], image_size, "test"),
    }
    return FewShotDataset(
        "fashionmnist",
        splits,
        description="Fashion-MNIST: 10 clothing classes, 28x28 grayscale (cross-domain test)",
        info={"folder": str(folder), "image_size": image_size},
        test_only=True,  # the three splits hold the same ten classes
    )


def check_fashion_mnist(data_root: str | Path | None = None) -> DataCheck:
    folder = _find(data_root)
    if folder is not None:
        return DataCheck(True, f"fashionmnist: the four official files are in {folder}")
    folders = "\n  ".join(str(f) for f in candidate_folders(data_root))
    return DataCheck(
        False,
        "fashionmnist: not found. Put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        f"t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz into one of:\n  {folders}\n"
        "(Debian/Ubuntu: apt-get install dataset-fashion-mnist), or let cxgrad download them "
        "with torchvision (any command that loads the dataset does).",
    )
