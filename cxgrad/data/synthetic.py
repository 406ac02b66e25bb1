"""Procedurally drawn glyph classes: an Omniglot stand-in that needs no download.

Each class is a prototype "character" of 2-4 quadratic Bezier strokes; each image redraws it
with a perturbed hand: jittered control points, a small random rotation/scale/shift and a
different pen width. That makes classes learnable but not trivially separable in pixel
space, which is what fast tests and offline demos need.

Every class and every image has its own random stream, seeded by ``(seed, split, class)``
and ``(seed, split, class, image)``. Class ``c`` of a split is therefore the same however
many classes or images are requested. NumPy's PCG64 gives the same numbers on every
platform, and rendering uses only element-wise float32 operations and a minimum, so the
images do not depend on how they are batched.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
from tqdm.auto import tqdm

from cxgrad.data.base import SPLITS, ClassImages, FewShotDataset
from cxgrad.errors import DataError

DEFAULT_NUM_CLASSES = (64, 16, 20)
MAX_STROKES = 4
_CURVE_POINTS = 9  # points sampled per Bezier stroke; the pen joins them with segments

# Shape of a prototype, in canvas units (the image spans [0, 1] x [0, 1]).
_MARGIN = 0.15
_STROKE_LENGTH = (0.25, 0.6)
_CURVATURE = 0.15
_PEN_RADIUS = (0.02, 0.035)
_CONNECT_PROBABILITY = 0.5  # a stroke starts on an earlier one, as handwriting does

# Per-image variation ("a different hand").
_POINT_JITTER = 0.04
_ROTATION_DEG = 10.0
_SCALE = (0.9, 1.1)
_SHIFT = 0.07
_PEN_FACTOR = (0.8, 1.25)

_FAR = 1e3  # where unused stroke slots are put so that they never ink a pixel
_CHUNK = 320  # images rendered per batch of tensor ops (~30 MB of temporaries)


def load_synthetic(
    num_classes: tuple[int, int, int] = DEFAULT_NUM_CLASSES,
    images_per_class: int = 20,
    image_size: int = 28,
    seed: int = 0,
    progress: bool = False,
) -> FewShotDataset:
    """Train/val/test splits with ``num_classes`` glyph classes each (uint8, 1 channel).

    White background (255) and dark ink like Omniglot, so models and preprocessing can be
    shared. Splits use different random streams, so their classes are different glyphs.
    """
    num_classes = _check_options(num_classes, images_per_class, image_size)
    total = sum(num_classes) * images_per_class
    with tqdm(total=total, desc="synthetic", unit="img", disable=not progress) as bar:
        splits = {
            split: _render_split(seed, split, count, images_per_class, image_size, bar)
            for split, count in zip(SPLITS, num_classes, strict=True)
        }
    description = (
        "Synthetic glyphs: each class is a random 2-4 stroke character, each image the same "
        "strokes drawn with a perturbed hand (control-point jitter, small rotation, scale, "
        f"shift and pen width). Deterministic from seed={seed}; no files needed."
    )
    info = {
        "num_classes": tuple(num_classes),
        "images_per_class": images_per_class,
        "image_size": image_size,
        "seed": seed,
        "rotations": False,
    }
    return FewShotDataset("synthetic", splits, description=description, info=info)


def _render_split(
    seed: int, split: str, count: int, images_per_class: int, image_size: int, bar: tqdm
) -> ClassImages:
    """All classes of a split, rendered in large chunks.

    Few big tensor ops instead of many small ones: per-op overhead (and thread
    synchronisation on a busy machine) otherwise dominates. Pixels do not depend on the
    chunking, since every image is computed independently.
    """
    drawings = [_class_drawings(seed, split, c, images_per_class) for c in range(count)]
    controls = np.concatenate([d[0] for d in drawings])
    pens = np.concatenate([d[1] for d in drawings])
    chunks = []
    for first in range(0, len(controls), _CHUNK):
        chunk = slice(first, first + _CHUNK)
        chunks.append(_render(controls[chunk], pens[chunk], image_size))
        bar.update(len(chunks[-1]))
    offsets = torch.arange(count + 1, dtype=torch.int64) * images_per_class
    names = [f"{split}/glyph{c:04d}" for c in range(count)]
    return ClassImages(torch.cat(chunks), offsets, names)


def _class_drawings(
    seed: int, split: str, class_index: int, images_per_class: int
) -> tuple[np.ndarray, np.ndarray]:
    """Control points ``[images, MAX_STROKES, 3, 2]`` and pen radii ``[images]`` of a class."""
    strokes, pen = _prototype(_rng(seed, split, class_index))
    drawn = [
        _perturb(_rng(seed, split, class_index, j + 1), strokes, pen)
        for j in range(images_per_class)
    ]
    return np.stack([d[0] for d in drawn]), np.array([d[1] for d in drawn])


def _rng(seed: int, split: str, *indices: int) -> np.random.Generator:
    entropy = [int(seed), zlib.crc32(split.encode()), *map(int, indices)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def _prototype(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Control points ``[MAX_STROKES, 3, 2]`` (unused slots far away) and a pen radius."""
    n_strokes = int(rng.integers(2, MAX_STROKES + 1))
    strokes = np.full((MAX_STROKES, 3, 2), _FAR)
    for s in range(n_strokes):
        if s > 0 and rng.random() < _CONNECT_PROBABILITY:
            start = _bezier(strokes[rng.integers(s)], rng.random())
        else:
            start = rng.uniform(_MARGIN, 1 - _MARGIN, 2)
        angle = rng.uniform(0, 2 * np.pi)
        direction = np.array([np.cos(angle), np.sin(angle)])
        end = np.clip(start + direction * rng.uniform(*_STROKE_LENGTH), _MARGIN, 1 - _MARGIN)
        normal = np.array([-direction[1], direction[0]])
        middle = (start + end) / 2 + normal * rng.normal(0, _CURVATURE)
        strokes[s] = (start, middle, end)
    # Centre the glyph, as Omniglot drawings are roughly centred.
    ink = _bezier(strokes[:n_strokes].transpose(1, 0, 2), np.linspace(0, 1, 9)[:, None])
    strokes[:n_strokes] += 0.5 - (ink.min(axis=(0, 1)) + ink.max(axis=(0, 1))) / 2
    return strokes, float(rng.uniform(*_PEN_RADIUS))


def _bezier(control: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    t = np.asarray(t)[..., None]
    return (1 - t) ** 2 * control[0] + 2 * (1 - t) * t * control[1] + t**2 * control[2]


def _perturb(rng: np.random.Generator, strokes: np.ndarray, pen: float) -> tuple[np.ndarray, float]:
    """The prototype as drawn once: jittered points, then a random similarity transform.

    Bezier curves commute with affine maps, so transforming control points is exact.
    """
    used = strokes[:, 0, 0] < _FAR
    points = strokes + rng.normal(0, _POINT_JITTER, strokes.shape)
    angle = np.deg2rad(rng.uniform(-_ROTATION_DEG, _ROTATION_DEG))
    scale = rng.uniform(*_SCALE)
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shift = rng.uniform(-_SHIFT, _SHIFT, 2)
    points = (points - 0.5) @ rotation.T + 0.5 + shift
    points[~used] = _FAR
    return points, pen * rng.uniform(*_PEN_FACTOR)


def _render(controls: np.ndarray, pens: np.ndarray, size: int) -> torch.Tensor:
    """Draw ``controls [n, S, 3, 2]`` with pen radii ``pens [n]`` as uint8 ``[n, 1, size, size]``.

    Ink = distance of each pixel centre to the nearest stroke segment, compared with the pen
    radius over a one-pixel soft edge (anti-aliasing, so small shifts change pixels smoothly).
    x and y are kept in separate tensors and updated in place: this is the hot loop.
    """
    n = len(controls)
    used = (controls[:, :, 0, 0] < _FAR).any(0)  # skip stroke slots no image uses
    t = np.linspace(0.0, 1.0, _CURVE_POINTS)
    weights = np.stack([(1 - t) ** 2, 2 * (1 - t) * t, t**2], axis=1)  # [P, 3]
    curves = np.einsum("pk,nskd->nspd", weights, controls[:, used])  # [n, S, P, 2]
    curves = torch.from_numpy(curves).float()
    start = curves[:, :, :-1].reshape(n, -1, 1, 2)  # segments [n, M, 1, 2]
    delta = curves[:, :, 1:].reshape(n, -1, 1, 2) - start
    inv_length2 = 1.0 / (delta * delta).sum(-1).clamp_min(1e-12)  # [n, M, 1]
    centres = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    gy, gx = torch.meshgrid(centres, centres, indexing="ij")
    px = gx.reshape(1, 1, -1) - start[..., 0]  # pixel minus segment start, [n, M, HW]
    py = gy.reshape(1, 1, -1) - start[..., 1]
    dx, dy = delta[..., 0], delta[..., 1]
    along = (px * dx).add_(py * dy).mul_(inv_length2).clamp_(0, 1)
    px.sub_(along * dx).square_()
    py.sub_(along.mul_(dy)).square_()
    distance = px.add_(py).amin(dim=1).sqrt_()  # [n, HW]
    pen = torch.from_numpy(pens).float().view(-1, 1)
    ink = distance.neg_().add_(pen).mul_(size).add_(0.5).clamp_(0, 1)
    pixels = ink.mul_(-255.0).add_(255.0).round_().to(torch.uint8)
    return pixels.view(n, 1, size, size)


def _check_options(
    num_classes: tuple[int, int, int], images_per_class: int, image_size: int
) -> tuple[int, int, int]:
    try:
        counts = [int(n) for n in num_classes]
    except (TypeError, ValueError):
        counts = []
    if len(counts) != len(SPLITS) or min(counts) < 1:
        raise DataError(
            f"num_classes must be three positive counts (train, val, test), got "
            f"{num_classes!r}; for example {DEFAULT_NUM_CLASSES}"
        )
    if int(images_per_class) < 2:
        raise DataError(
            f"images_per_class must be at least 2 (one support and one query image), "
            f"got {images_per_class}"
        )
    if int(image_size) < 8:
        raise DataError(f"image_size must be at least 8 pixels, got {image_size}")
    train, val, test = counts
    return train, val, test
