"""Seeded N-way K-shot episodes.

Task ``i`` of a sampler is a pure function of ``(seed, split name, i)``: it is drawn with
NumPy's PCG64 from ``SeedSequence([seed, crc32(split), i])``, which gives the same numbers
on every machine and operating system. Training, validation and test tasks are therefore
addressable by index, and a resumed run sees exactly the tasks it would have seen.

``polarity="mixed"`` inverts the images (255 - pixel) of a seeded half of the tasks: a
task distribution in which a task embedding has something real to detect (chapters 10 and 12).
Whether task ``i`` is inverted is drawn from its own seed sequence, so the classes and
images of every task are the same as with ``polarity="normal"``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, fields

import numpy as np
import torch

from cxgrad.data.base import ClassImages
from cxgrad.errors import DataError


@dataclass
class TaskBatch:
    """A batch of B tasks. Images float32 in [0, 1], or standardized per channel when the
    split defines ``mean``/``std`` (see ``ClassImages.to_float``); labels int64 in 0..N-1.

    Shapes: ``x_support [B, N*K, C, H, W]``, ``y_support [B, N*K]``,
    ``x_query [B, N*Q, C, H, W]``, ``y_query [B, N*Q]``.
    """

    x_support: torch.Tensor
    y_support: torch.Tensor
    x_query: torch.Tensor
    y_query: torch.Tensor

    def __len__(self) -> int:
        return self.x_support.shape[0]

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> TaskBatch:
        def move(x: torch.Tensor, is_image: bool) -> torch.Tensor:
            x = x.to(device, non_blocking=True)
            return x.to(dtype) if (is_image and dtype is not None) else x

        return TaskBatch(
            move(self.x_support, True),
            move(self.y_support, False),
            move(self.x_query, True),
            move(self.y_query, False),
        )

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x_support, y_support, x_query, y_query)``, in that order."""
        return (self.x_support, self.y_support, self.x_query, self.y_query)

    def task(self, b: int) -> TaskBatch:
        """Task ``b`` as a batch of one."""
        s = slice(b, b + 1)
        return TaskBatch(self.x_support[s], self.y_support[s], self.x_query[s], self.y_query[s])


POLARITIES = ("normal", "mixed")
_POLARITY_STREAM = 0x706F6C  # a fourth seed word, separate from the task draws


class EpisodeSampler:
    """Draws N-way K-shot tasks with Q queries per class from one split."""

    def __init__(
        self,
        classes: ClassImages,
        ways: int,
        shots: int,
        queries: int,
        seed: int = 0,
        split_name: str = "train",
        polarity: str = "normal",
    ) -> None:
        if polarity not in POLARITIES:
            raise DataError(f"polarity must be one of {', '.join(POLARITIES)}, got {polarity!r}")
        for label, value in (("ways", ways), ("shots", shots), ("queries", queries)):
            if int(value) < 1:
                raise DataError(f"{label} must be at least 1, got {value}")
        if ways > classes.num_classes:
            raise DataError(
                f"{ways}-way tasks need at least {ways} classes, but the {split_name!r} split "
                f"has only {classes.num_classes}. Use --ways {classes.num_classes} or fewer, "
                "or a larger split (for Omniglot, --rotations quadruples the classes)."
            )
        need = shots + queries
        if need > classes.min_images_per_class:
            raise DataError(
                f"{shots} shots + {queries} queries = {need} images per class, but the "
                f"{split_name!r} split has classes with only {classes.min_images_per_class} "
                f"images. Lower --shots or --queries so that shots + queries <= "
                f"{classes.min_images_per_class}."
            )
        self.classes = classes
        self.ways, self.shots, self.queries = int(ways), int(shots), int(queries)
        self.seed = int(seed)
        self.split_name = split_name
        self.polarity = polarity
        self._split_code = zlib.crc32(split_name.encode())

    def _rng(self, index: int) -> np.random.Generator:
        if index < 0:
            raise IndexError(f"task index must be non-negative, got {index}")
        return np.random.Generator(
            np.random.PCG64(np.random.SeedSequence([self.seed, self._split_code, index]))
        )

    def inverted(self, index: int) -> bool:
        """Whether task ``index`` has inverted images (only ever with ``polarity="mixed"``)."""
        if self.polarity == "normal":
            return False
        if index < 0:
            raise IndexError(f"task index must be non-negative, got {index}")
        words = [self.seed, self._split_code, index, _POLARITY_STREAM]
        return bool(np.random.default_rng(np.random.SeedSequence(words)).random() < 0.5)

    def _apply_polarity(self, images: torch.Tensor, first: int) -> torch.Tensor:
        """uint8 ``[B, ...]`` tasks ``first..first+B-1`` with the inverted ones flipped."""
        if self.polarity == "normal":
            return images
        flags = [self.inverted(first + b) for b in range(images.shape[0])]
        if not any(flags):
            return images
        mask = torch.tensor(flags, device=images.device).view(-1, *(1,) * (images.dim() - 1))
        return torch.where(mask, 255 - images, images)

    def task_picks(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Task ``index`` as the N class ids chosen and the ``[N, K+Q]`` image indices
        within each class. Row ``n`` is label ``n``: the classes come in random order, so
        label 0 is a different class in every task."""
        rng = self._rng(index)
        chosen = rng.choice(self.classes.num_classes, size=self.ways, replace=False)
        picks = np.stack(
            [
                rng.choice(self.classes.class_count(int(c)), self.shots + self.queries, False)
                for c in chosen
            ]
        )
        return chosen, picks

    def task_uint8(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Task ``index`` as uint8 images ``[N, K+Q, C, H, W]`` and the N class ids chosen."""
        chosen, picks = self.task_picks(index)
        images = self._apply_polarity(self.classes.gather(chosen[None], picks[None]), index)
        return images[0], torch.from_numpy(chosen)

    def batch(self, first: int, count: int, out: TaskBatch | None = None) -> TaskBatch:
        """Tasks ``first .. first+count-1`` stacked into one ``TaskBatch``.

        The images are gathered in one indexing operation on the device that holds the
        dataset (see ``ClassImages.to``), so on a GPU the episode is assembled there and
        only a few hundred integers cross from the host.

        With ``out`` (contiguous tensors of the right shapes, on any device, for example a
        CUDA graph's input buffers) the tasks are written into it and ``out`` is returned,
        so that no second copy of the meta-batch stays alive.
        """
        drawn = [self.task_picks(first + b) for b in range(count)]
        classes = np.stack([c for c, _ in drawn])
        picks = np.stack([p for _, p in drawn])
        images = self._apply_polarity(self.classes.gather(classes, picks), first)
        return self.split_images(images, out)

    def split_images(self, images: torch.Tensor, out: TaskBatch | None = None) -> TaskBatch:
        """uint8 ``[B, N, K+Q, C, H, W]`` -> float support/query tensors and labels
        (written into ``out`` when given, see ``batch``).

        Pixels become inputs through ``ClassImages.to_float``: scaled to [0, 1], then
        standardized with the split's ``mean``/``std`` when it has them (CIFAR-FS).
        """
        b, n, _, c, h, w = images.shape
        k, q = self.shots, self.queries
        x = self.classes.to_float(images)
        labels = torch.arange(n, device=images.device).view(1, n, 1)
        pieces = (x[:, :, :k], labels.expand(b, n, k), x[:, :, k:], labels.expand(b, n, q))
        shapes = ((b, n * k, c, h, w), (b, n * k), (b, n * q, c, h, w), (b, n * q))
        if out is None:
            return TaskBatch(*(p.reshape(s) for p, s in zip(pieces, shapes, strict=True)))
        names = (field.name for field in fields(TaskBatch))
        for name, target, piece, shape in zip(names, out.tensors(), pieces, shapes, strict=True):
            if tuple(target.shape) != shape or not target.is_contiguous():
                raise DataError(
                    f"cannot write {b} {self.ways}-way {self.shots}-shot {self.queries}-query "
                    f"tasks into out.{name} of shape "
                    f"{tuple(target.shape)}: it must be a contiguous tensor of shape {shape}"
                )
            target.view(piece.shape).copy_(piece, non_blocking=True)
        return out
