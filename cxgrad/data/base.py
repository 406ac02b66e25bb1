"""In-memory few-shot datasets: uint8 images grouped by class, one object per split."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from cxgrad.data._messages import few
from cxgrad.errors import DataError

SPLITS = ("train", "val", "test")


@dataclass
class ClassImages:
    """All images of one split, grouped by class.

    ``images`` is uint8 ``[total, C, H, W]``; class ``c`` owns rows
    ``offsets[c]:offsets[c + 1]`` (classes may have different sizes). With ``rotations``
    every base class also appears rotated by 90, 180 and 270 degrees as three further
    classes, so ``num_classes`` is four times the number of base classes.

    ``mean`` and ``std`` (one value per channel, on the [0, 1] scale, both or neither) say
    how model inputs are standardized: :meth:`to_float` returns ``(x / 255 - mean) / std``.
    They travel with the images rather than living in the model or the trainer because
    they are a property of the dataset (the authors standardize CIFAR-FS only), and every
    consumer of a split, in training, evaluation or a notebook, must see the same inputs.
    """

    images: torch.Tensor
    offsets: torch.Tensor
    class_names: list[str]
    rotations: bool = False
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DataError(
                f"images must be a uint8 tensor [N, C, H, W], got {self.images.dtype} "
                f"with shape {tuple(self.images.shape)}"
            )
        if len(self.class_names) + 1 != len(self.offsets):
            raise DataError("offsets must have one entry more than class_names")
        self.mean, self.std = _check_normalization(self.mean, self.std, self.images.shape[1])

    @classmethod
    def from_list(
        cls,
        per_class: list[torch.Tensor],
        class_names: list[str],
        rotations: bool = False,
        mean: tuple[float, ...] | None = None,
        std: tuple[float, ...] | None = None,
    ) -> ClassImages:
        """Build from one uint8 ``[n_c, C, H, W]`` tensor per class."""
        counts = torch.tensor([0] + [len(t) for t in per_class], dtype=torch.int64)
        offsets = torch.cumsum(counts, 0)
        return cls(torch.cat(per_class), offsets, list(class_names), rotations, mean, std)

    @property
    def num_base_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_classes(self) -> int:
        return self.num_base_classes * (4 if self.rotations else 1)

    @property
    def counts(self) -> torch.Tensor:
        return self.offsets[1:] - self.offsets[:-1]

    @property
    def min_images_per_class(self) -> int:
        return int(self.counts.min()) if self.num_base_classes else 0

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def class_name(self, c: int) -> str:
        base, quarter_turns = self._base_and_turns(c)
        name = self.class_names[base]
        return f"{name}@rot{90 * quarter_turns}" if quarter_turns else name

    def _base_and_turns(self, c: int) -> tuple[int, int]:
        if not 0 <= c < self.num_classes:
            raise IndexError(f"class {c} out of range 0..{self.num_classes - 1}")
        return c % self.num_base_classes, c // self.num_base_classes

    def class_count(self, c: int) -> int:
        base, _ = self._base_and_turns(c)
        return int(self.counts[base])

    def to(self, device: torch.device | str) -> ClassImages:
        """The same classes with the images on ``device`` (offsets stay on the CPU)."""
        return ClassImages(
            self.images.to(device),
            self.offsets,
            self.class_names,
            self.rotations,
            self.mean,
            self.std,
        )

    def to_float(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images ``[..., C, H, W]`` of this split as float32 model inputs.

        Scaled to [0, 1], then standardized per channel when ``mean``/``std`` are set. The
        one place where pixels become inputs, so that samplers, evaluation and notebooks
        cannot disagree about preprocessing.
        """
        x = images.float().div_(255.0)
        if self.mean is None or self.std is None:
            return x
        shape = (len(self.mean), 1, 1)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(shape)
        return x.sub_(mean).div_(std)

    def gather(self, classes: np.ndarray, picks: np.ndarray) -> torch.Tensor:
        """uint8 ``[B, N, M, C, H, W]`` images for class ids ``classes [B, N]`` and
        within-class indices ``picks [B, N, M]``, in one indexing op on the images' device;
        rotated classes are rotated afterwards, one ``rot90`` per quarter-turn count."""
        classes = np.asarray(classes, dtype=np.int64)
        base = classes % self.num_base_classes
        turns = classes // self.num_base_classes
        rows = self.offsets.numpy()[base][..., None] + np.asarray(picks, dtype=np.int64)
        index = torch.from_numpy(rows.reshape(-1)).to(self.images.device)
        images = self.images[index].view(*rows.shape, *self.images.shape[1:])
        for k in range(1, 4) if self.rotations else ():
            mask = torch.from_numpy(turns == k).to(self.images.device)
            if bool(mask.any()):
                images[mask] = torch.rot90(images[mask], k, dims=(-2, -1))
        return images

    def take(self, c: int, indices: torch.Tensor) -> torch.Tensor:
        """uint8 images ``indices`` of class ``c`` (rotated if ``c`` is a rotated class)."""
        base, quarter_turns = self._base_and_turns(c)
        picked = self.images[self.offsets[base] + indices]
        if quarter_turns:
            picked = torch.rot90(picked, quarter_turns, dims=(2, 3))
        return picked


def _check_normalization(
    mean: tuple[float, ...] | None, std: tuple[float, ...] | None, channels: int
) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """``mean``/``std`` as tuples of floats, one per channel; DataError if they cannot be."""
    if mean is None and std is None:
        return None, None
    if mean is None or std is None:
        raise DataError("set both mean and std (per-channel normalization) or neither")
    mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    if len(mean) != channels or len(std) != channels:
        raise DataError(
            f"mean and std need one value per channel ({channels}), got {len(mean)} and {len(std)}"
        )
    if not all(s > 0 for s in std):
        raise DataError(f"std values must be positive, got {std}")
    return mean, std


@dataclass
class FewShotDataset:
    """A named dataset with its class-disjoint splits.

    Every loader builds one of these, so the disjointness of the splits is checked here,
    once for all datasets: a class in two splits would let meta-training see test classes.
    ``test_only`` datasets (Fashion-MNIST: ten classes in every split) are exempt; they
    can only test a model trained elsewhere.
    """

    name: str
    splits: dict[str, ClassImages]
    description: str = ""
    info: dict = field(default_factory=dict)
    test_only: bool = False

    def __post_init__(self) -> None:
        if not self.test_only:
            check_disjoint(self.name, {k: v.class_names for k, v in self.splits.items()})

    def split(self, name: str) -> ClassImages:
        if name not in self.splits:
            raise DataError(
                f"dataset {self.name!r} has no split {name!r}; available: {sorted(self.splits)}"
            )
        return self.splits[name]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return next(iter(self.splits.values())).image_shape

    def summary(self) -> str:
        parts = [
            f"{k}: {v.num_classes} classes, {len(v.images)} images" for k, v in self.splits.items()
        ]
        c, h, w = self.image_shape
        return f"{self.name} ({c}x{h}x{w}) " + "; ".join(parts)


def check_disjoint(dataset: str, class_names: dict[str, list[str]]) -> None:
    """DataError naming the classes that appear in more than one split (and where)."""
    seen: dict[str, list[str]] = {}
    for split, names in class_names.items():
        for name in dict.fromkeys(names):
            seen.setdefault(name, []).append(split)
    shared = [f"{name} ({'/'.join(splits)})" for name, splits in seen.items() if len(splits) > 1]
    if shared:
        raise DataError(
            f"dataset {dataset!r} has {len(shared)} class(es) in more than one split: "
            f"{few(shared)}. "
            "Splits must be class-disjoint, or meta-training sees the test classes; use a copy "
            "with the standard split (or mark a dataset whose splits share classes test-only)."
        )
