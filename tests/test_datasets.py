"""miniImageNet, tieredImageNet, CUB and CIFAR-FS loaders, caches and checks.

None of these datasets can be downloaded here, so every test writes a tiny copy in the
real format into ``tmp_path``: pickle caches with the real keys, PNG byte pickles, a real
``.tgz`` and ``.zip``, split folders of PIL-written JPEG/PNG files. The copies have the
real number of classes per split but only two small images per class, which keeps the
whole file to a few seconds.
"""

from __future__ import annotations

import inspect
import io
import pickle
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cxgrad.data import (
    ClassImages,
    EpisodeSampler,
    check_dataset,
    load_cifarfs,
    load_cub,
    load_dataset,
    load_miniimagenet,
    load_tieredimagenet,
    prepare_dataset,
)
from cxgrad.data import _cache as cache_module
from cxgrad.data.cifarfs import MEAN, STD
from cxgrad.errors import ConfigError, DataError

SPLITS = ("train", "val", "test")
PER_CLASS = 2  # images per class in every fixture: enough for 1-shot 1-query tasks
MINI = {"train": 64, "val": 16, "test": 20}
TIERED = {"train": 351, "val": 97, "test": 160}
TIERED_GENERAL = {"train": 20, "val": 6, "test": 8}
CUB = {"train": 100, "val": 50, "test": 50}


# ------------------------------------------------------------------------- image makers


def _pixels(seed: int, size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A small deterministic image; odd sizes exercise resizing of non-square photos."""
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)


def _encoded(seed: int, fmt: str, size: tuple[int, int] = (12, 10), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    _pixels(seed, size, mode).save(buffer, format=fmt)
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _wnids(split: str, n: int) -> list[str]:
    return [f"n{SPLITS.index(split) + 1}{c:07d}" for c in range(n)]


# ----------------------------------------------------------------------- format writers


def write_mini_pickles(folder: Path, counts: dict[str, int] = MINI) -> Path:
    """``mini-imagenet-cache-{split}.pkl``: rows shuffled, so class_dict must be followed."""
    folder.mkdir(parents=True, exist_ok=True)
    for s, split in enumerate(SPLITS):
        n = counts[split] * PER_CLASS
        rng = np.random.default_rng(s)
        images = rng.integers(0, 256, (n, 84, 84, 3), dtype=np.uint8)
        rows = rng.permutation(n).tolist()
        class_dict = {
            wnid: rows[c * PER_CLASS : (c + 1) * PER_CLASS]
            for c, wnid in enumerate(_wnids(split, counts[split]))
        }
        with open(folder / f"mini-imagenet-cache-{split}.pkl", "wb") as handle:
            pickle.dump({"image_data": images, "class_dict": class_dict}, handle, protocol=4)
    return folder


def write_split_folders(folder: Path, counts: dict[str, int], fmt: str = "JPEG") -> Path:
    """``train|val|test/<wnid>/<wnid>_<i>.jpg`` (the layout of MAML++ and the authors)."""
    ext = ".jpg" if fmt == "JPEG" else ".png"
    for split in SPLITS:
        for c, wnid in enumerate(_wnids(split, counts[split])):
            for i in range(PER_CLASS):
                data = _encoded(zlib.crc32(f"{split}/{c}/{i}".encode()), fmt)
                _write(folder / split / wnid / f"{wnid}_{i:08d}{ext}", data)
    return folder


def write_mini_csv(folder: Path, from_folders: Path) -> Path:
    """Ravi & Larochelle's ``images/`` + ``{split}.csv``, from the same files as folders."""
    for split in SPLITS:
        lines = ["filename,label"]
        for path in sorted((from_folders / split).glob("*/*")):
            _write(folder / "images" / path.name, path.read_bytes())
            lines.append(f"{path.name},{path.parent.name}")
        (folder / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return folder


def write_tiered_pickles(folder: Path) -> Path:
    """``{split}_images_png.pkl`` + ``{split}_labels.pkl`` as the shared archive has them.

    The encoded images come in the three shapes found in the wild: uint8 arrays (as
    ``cv2.imencode`` returns them), latin1 strings (Python 2 pickles read by Python 3)
    and an object array of bytes.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for s, split in enumerate(SPLITS):
        n_classes, n_general = TIERED[split], TIERED_GENERAL[split]
        rng = np.random.default_rng(10 + s)
        labels = rng.permutation(np.repeat(np.arange(n_classes), PER_CLASS))
        pngs = [_encoded(1000 * s + i, "PNG", (16, 16)) for i in range(len(labels))]
        encoded: object = {
            "train": [np.frombuffer(p, np.uint8) for p in pngs],
            "val": [p.decode("latin1") for p in pngs],
            "test": np.array(pngs + [b""], dtype=object)[:-1],
        }[split]
        label_dict = {
            "label_specific": labels,
            "label_general": labels % n_general,
            "label_specific_str": _wnids(split, n_classes),
            "label_general_str": [f"{split}_category_{g}" for g in range(n_general)],
        }
        with open(folder / f"{split}_images_png.pkl", "wb") as handle:
            pickle.dump(encoded, handle, protocol=2)
        with open(folder / f"{split}_labels.pkl", "wb") as handle:
            pickle.dump(label_dict, handle, protocol=2)
    return folder


def _cub_class(i: int) -> str:
    return f"{i + 1:03d}.Bird_number_{i + 1}"


def write_cub_folder(folder: Path, num_classes: int = 200) -> Path:
    """``CUB_200_2011/images/<NNN.Name>/*.jpg``, photos of odd shapes, one of them grey."""
    images = folder / "CUB_200_2011" / "images"
    for i in range(num_classes):
        for j in range(PER_CLASS):
            mode = "L" if (i, j) == (3, 1) else "RGB"
            data = _encoded(7 * i + j, "JPEG", (14 + i % 5, 9 + j), mode)
            _write(images / _cub_class(i) / f"Bird_{i + 1}_{j:04d}.jpg", data)
    (folder / "CUB_200_2011" / "images.txt").write_text("1 001.x/y.jpg\n")
    return folder


def write_cub_tgz(path: Path, extracted: Path) -> Path:
    """The official archive: ``CUB_200_2011/...`` plus ``attributes.txt`` at the top."""
    path.parent.mkdir(parents=True, exist_ok=True)
    attributes = extracted / "attributes.txt"
    attributes.write_text("1 has_bill_shape::curved\n")
    with tarfile.open(path, "w:gz") as tar:
        tar.add(attributes, arcname="attributes.txt")
        tar.add(extracted / "CUB_200_2011", arcname="CUB_200_2011")
    return path


def _cifar_classes() -> dict[str, list[str]]:
    names = [f"class_{c:02d}" for c in range(100)]
    return {"train": names[:64], "val": names[64:80], "test": names[80:]}


def write_cifar_folder(folder: Path, skip_split_file: str | None = None) -> Path:
    """``cifar100/data/<class>/*.png`` (32x32) + ``cifar100/splits/bertinetto/*.txt``."""
    top = folder / "cifar100"
    for split, classes in _cifar_classes().items():
        for c, name in enumerate(classes):
            for j in range(PER_CLASS):
                data = _encoded(31 * c + j + 1000 * SPLITS.index(split), "PNG", (32, 32))
                _write(top / "data" / name / f"{name}_s_{j:06d}.png", data)
        if split != skip_split_file:
            _write(top / "splits" / "bertinetto" / f"{split}.txt", "\n".join(classes).encode())
    return folder


def write_cifar_zip(path: Path, extracted: Path) -> Path:
    """``cifar100.zip`` as distributed: members under ``cifar100/``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted((extracted / "cifar100").rglob("*")):
            archive.write(file, file.relative_to(extracted).as_posix())
    return path


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One data root per dataset and format, written once for the read-only tests."""
    base = tmp_path_factory.mktemp("copies")
    mini_folders = write_split_folders(base / "mini_folders" / "miniimagenet", MINI)
    cub_extracted = write_cub_folder(base / "cub_folder" / "cub")
    cifar_extracted = write_cifar_folder(base / "cifar_folder" / "cifarfs")
    return {
        "mini_pickles": write_mini_pickles(base / "mini_pickles" / "miniimagenet").parent,
        "mini_folders": mini_folders.parent,
        "mini_csv": write_mini_csv(base / "mini_csv" / "miniimagenet", mini_folders).parent,
        "tiered_pickles": write_tiered_pickles(base / "tiered_pickles" / "tieredimagenet").parent,
        "tiered_folders": write_split_folders(
            base / "tiered_folders" / "tieredimagenet", TIERED, fmt="PNG"
        ).parent,
        "cub_folder": cub_extracted.parent,
        "cub_tgz": write_cub_tgz(
            base / "cub_tgz" / "cub" / "CUB_200_2011.tgz", cub_extracted
        ).parent.parent,
        "cifar_folder": cifar_extracted.parent,
        "cifar_zip": write_cifar_zip(
            base / "cifar_zip" / "cifarfs" / "cifar100.zip", cifar_extracted
        ).parent.parent,
    }


def _counts(dataset) -> dict[str, int]:
    return {s: dataset.split(s).num_classes for s in SPLITS}


def _assert_usable(dataset, counts: dict[str, int], size: int = 84) -> None:
    """Right classes per split, uint8 3xSxS images, and a 5-way 1-shot batch per split."""
    assert _counts(dataset) == counts
    for split in SPLITS:
        classes = dataset.split(split)
        assert classes.images.dtype == torch.uint8
        assert classes.image_shape == (3, size, size)
        assert classes.min_images_per_class == PER_CLASS
        batch = EpisodeSampler(classes, 5, 1, 1, seed=0, split_name=split).batch(0, 2)
        assert batch.x_support.shape == (2, 5, 3, size, size)
        assert batch.x_query.shape == (2, 5, 3, size, size)
        assert batch.x_support.dtype == torch.float32


def _assert_unit_range(dataset) -> None:
    for split in SPLITS:
        batch = EpisodeSampler(dataset.split(split), 5, 1, 1).batch(0, 2)
        assert float(batch.x_support.min()) >= 0.0 and float(batch.x_support.max()) <= 1.0
        assert dataset.split(split).mean is None and dataset.split(split).std is None


def _assert_same(a, b) -> None:
    for split in SPLITS:
        x, y = a.split(split), b.split(split)
        assert x.class_names == y.class_names
        assert torch.equal(x.offsets, y.offsets)
        assert torch.equal(x.images, y.images)
        assert (x.mean, x.std) == (y.mean, y.std)


def test_benchmark_entry_points_are_named_for_their_module() -> None:
    assert (load_cub.__name__, load_cub.__module__) == ("load_cub", "cxgrad.data.cub")
    assert list(inspect.signature(load_cifarfs).parameters) == [
        "data_root",
        "image_size",
        "progress",
    ]
    assert "CIFAR-FS" in (load_cifarfs.__doc__ or "")


# ------------------------------------------------------------------- class-disjoint splits

COPY_DATASET = {
    "mini_pickles": "miniimagenet",
    "mini_folders": "miniimagenet",
    "mini_csv": "miniimagenet",
    "tiered_pickles": "tieredimagenet",
    "tiered_folders": "tieredimagenet",
    "cub_folder": "cub",
    "cub_tgz": "cub",
    "cifar_folder": "cifarfs",
    "cifar_zip": "cifarfs",
}


@pytest.mark.integration
@pytest.mark.parametrize("key", sorted(COPY_DATASET))
def test_every_format_gives_class_disjoint_splits(copies: dict[str, Path], key: str) -> None:
    dataset = load_dataset(COPY_DATASET[key], copies[key], image_size=8, progress=False)
    names = [set(dataset.split(s).class_names) for s in SPLITS]
    assert sum(map(len, names)) == len(set.union(*names)) == sum(_counts(dataset).values())
    assert not dataset.test_only


@pytest.mark.parametrize("fmt", ["split folders", "pickles"])
def test_a_copy_with_a_class_in_two_splits_is_refused(tmp_path: Path, fmt: str) -> None:
    # The right number of classes per split, but one test class is a train class again:
    # meta-training would see a test class, so loading must fail and name it.
    shared = _wnids("train", 1)[0]
    if fmt == "split folders":
        folder = write_split_folders(tmp_path / "miniimagenet", MINI)
        (folder / "test" / _wnids("test", 1)[0]).rename(folder / "test" / shared)
    else:
        folder = write_mini_pickles(tmp_path / "miniimagenet")
        path = folder / "mini-imagenet-cache-test.pkl"
        data = pickle.loads(path.read_bytes())
        data["class_dict"][shared] = data["class_dict"].pop(_wnids("test", 1)[0])
        path.write_bytes(pickle.dumps(data))
    with pytest.raises(DataError, match=rf"class\(es\) in more than one split: {shared} \("):
        load_miniimagenet(tmp_path, progress=False)


# --------------------------------------------------------------------------- miniImageNet


def test_mini_every_format_loads(copies: dict[str, Path]) -> None:
    pickles = load_miniimagenet(copies["mini_pickles"], progress=False)
    folders = load_miniimagenet(copies["mini_folders"], progress=False)
    from_csv = load_dataset("miniimagenet", copies["mini_csv"], progress=False)
    for dataset, fmt in ((pickles, "pickle caches"), (folders, "split folders"), (from_csv, "CSV")):
        assert dataset.name == "miniimagenet"
        assert fmt in dataset.info["format"]
        _assert_usable(dataset, MINI)
        _assert_unit_range(dataset)
    _assert_same(folders, from_csv)  # the same files in two layouts give the same tensors
    train = pickles.split("train")
    assert train.class_names == sorted(train.class_names)


def test_mini_pickle_rows_follow_class_dict(copies: dict[str, Path]) -> None:
    dataset = load_miniimagenet(copies["mini_pickles"], progress=False)
    path = copies["mini_pickles"] / "miniimagenet" / "mini-imagenet-cache-val.pkl"
    with open(path, "rb") as handle:
        raw = pickle.load(handle)
    val = dataset.split("val")
    wnid = val.class_names[3]
    expected = torch.from_numpy(raw["image_data"][raw["class_dict"][wnid]]).permute(0, 3, 1, 2)
    assert torch.equal(val.take(3, torch.arange(PER_CLASS)), expected)


def test_mini_image_size_is_honoured(copies: dict[str, Path]) -> None:
    for key in ("mini_pickles", "mini_folders"):
        dataset = load_dataset("miniimagenet", copies[key], image_size=32, progress=False)
        _assert_usable(dataset, MINI, size=32)


def test_mini_missing_split_file_is_named(tmp_path: Path) -> None:
    folder = write_mini_pickles(tmp_path / "miniimagenet")
    (folder / "mini-imagenet-cache-val.pkl").unlink()
    with pytest.raises(DataError, match=r"val: missing .*mini-imagenet-cache-val\.pkl"):
        load_miniimagenet(tmp_path, progress=False)


def test_mini_wrong_class_count_is_named(tmp_path: Path) -> None:
    folder = write_mini_pickles(tmp_path / "miniimagenet", {**MINI, "train": 63})
    with pytest.raises(DataError) as info:
        load_miniimagenet(tmp_path, progress=False)
    message = str(info.value)
    assert "mini-imagenet-cache-train.pkl): 63 classes, expected 64" in message
    assert str(folder) in message and "64/16/20" in message


def test_mini_folder_with_a_missing_class_is_named(tmp_path: Path) -> None:
    folder = write_split_folders(tmp_path / "miniimagenet", MINI)
    shutil.rmtree(next((folder / "test").iterdir()))
    with pytest.raises(DataError, match=r"test \(.*test\): 19 classes, expected 20"):
        load_miniimagenet(tmp_path, progress=False)


def test_mini_pickle_with_wrong_keys_is_named(tmp_path: Path) -> None:
    folder = write_mini_pickles(tmp_path / "miniimagenet")
    with open(folder / "mini-imagenet-cache-test.pkl", "wb") as handle:
        pickle.dump({"images": np.zeros((1, 84, 84, 3), np.uint8)}, handle)
    with pytest.raises(
        DataError, match=r"cache-test\.pkl is not a miniImageNet.*found \['images'\]"
    ):
        load_miniimagenet(tmp_path, progress=False)


def test_mini_corrupt_image_is_named(tmp_path: Path) -> None:
    folder = write_split_folders(tmp_path / "miniimagenet", MINI)
    victim = sorted((folder / "val").glob("*/*.jpg"))[5]
    victim.write_bytes(b"not a jpeg at all")
    with pytest.raises(DataError, match=rf"{victim.name} is not a readable image"):
        load_miniimagenet(tmp_path, progress=False)


# ------------------------------------------------------------------------- tieredImageNet


def test_tiered_pickles_load_with_super_categories(copies: dict[str, Path]) -> None:
    dataset = load_tieredimagenet(copies["tiered_pickles"], progress=False)
    assert dataset.name == "tieredimagenet" and dataset.info["format"] == "pickles"
    _assert_usable(dataset, TIERED)
    _assert_unit_range(dataset)
    groups = dataset.info["super_categories"]
    for split in SPLITS:
        names = dataset.split(split).class_names
        assert list(groups[split]) == names
        assert len(set(groups[split].values())) == TIERED_GENERAL[split]
    # label 0 is the first class; its general label is 0 % n_general = 0
    assert groups["val"][dataset.split("val").class_names[0]] == "val_category_0"


def test_tiered_pickle_images_match_their_labels(copies: dict[str, Path]) -> None:
    dataset = load_tieredimagenet(copies["tiered_pickles"], image_size=16, progress=False)
    folder = copies["tiered_pickles"] / "tieredimagenet"
    with open(folder / "test_labels.pkl", "rb") as handle:
        labels = pickle.load(handle)["label_specific"]
    with open(folder / "test_images_png.pkl", "rb") as handle:
        first = np.flatnonzero(labels == 5)[0]
        png = pickle.load(handle)[first]
    expected = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).transpose(2, 0, 1)
    assert torch.equal(
        dataset.split("test").take(5, torch.tensor([0])), torch.tensor(expected)[None]
    )


def test_tiered_split_folders_load(copies: dict[str, Path]) -> None:
    dataset = load_dataset("tieredimagenet", copies["tiered_folders"], progress=False)
    assert dataset.info["format"] == "split folders"
    _assert_usable(dataset, TIERED)
    assert "super_categories" not in dataset.info


def test_tiered_labels_without_names_give_disjoint_numbered_classes(tmp_path: Path) -> None:
    folder = write_tiered_pickles(tmp_path / "tieredimagenet")
    for split in SPLITS:
        path = folder / f"{split}_labels.pkl"
        labels = pickle.loads(path.read_bytes())
        del labels["label_specific_str"]
        path.write_bytes(pickle.dumps(labels, protocol=2))
    dataset = load_tieredimagenet(tmp_path, image_size=8, progress=False)
    assert dataset.split("train").class_names[:2] == ["train/class000", "train/class001"]
    assert dataset.split("test").class_names[0] == "test/class000"
    assert _counts(dataset) == TIERED


def test_tiered_missing_labels_file_is_named(tmp_path: Path) -> None:
    folder = write_tiered_pickles(tmp_path / "tieredimagenet")
    (folder / "test_labels.pkl").unlink()
    with pytest.raises(DataError, match=r"test: missing .*test_labels\.pkl"):
        load_tieredimagenet(tmp_path, progress=False)


def test_tiered_mismatched_pair_is_named(tmp_path: Path) -> None:
    folder = write_tiered_pickles(tmp_path / "tieredimagenet")
    with open(folder / "val_images_png.pkl", "wb") as handle:
        pickle.dump([_encoded(0, "PNG")] * 3, handle)
    with pytest.raises(DataError, match=r"val_images_png\.pkl holds 3 images but .*194"):
        load_tieredimagenet(tmp_path, progress=False)


# ------------------------------------------------------------------------------------ CUB


def test_cub_tgz_and_folder_agree(copies: dict[str, Path]) -> None:
    from_tgz = load_cub(copies["cub_tgz"], progress=False)
    from_folder = load_dataset("cub", copies["cub_folder"], progress=False)
    assert from_tgz.info["format"] == "official tgz"
    assert from_folder.info["format"] == "extracted folder"
    for dataset in (from_tgz, from_folder):
        assert dataset.name == "cub"
        _assert_usable(dataset, CUB)
        _assert_unit_range(dataset)
    _assert_same(from_tgz, from_folder)


def test_cub_split_rule(copies: dict[str, Path]) -> None:
    dataset = load_cub(copies["cub_folder"], image_size=20, progress=False)
    assert dataset.split("train").class_names[:2] == [_cub_class(0), _cub_class(2)]
    assert dataset.split("val").class_names[:2] == [_cub_class(1), _cub_class(5)]
    assert dataset.split("test").class_names[:2] == [_cub_class(3), _cub_class(7)]
    grey = dataset.split("test").take(0, torch.tensor([1]))[0]  # class 3, image 1 was grey
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])


def test_cub_wrong_class_count_is_named(tmp_path: Path) -> None:
    write_cub_folder(tmp_path / "cub", num_classes=199)
    with pytest.raises(
        DataError, match=r"images holds 199 class folders with images, expected 200"
    ):
        load_cub(tmp_path, progress=False)


def test_cub_corrupt_image_in_tgz_is_named(tmp_path: Path) -> None:
    extracted = write_cub_folder(tmp_path / "extracted")
    victim = next((extracted / "CUB_200_2011" / "images" / _cub_class(9)).iterdir())
    victim.write_bytes(b"\xff\xd8\xff truncated")
    write_cub_tgz(tmp_path / "root" / "cub" / "CUB_200_2011.tgz", extracted)
    with pytest.raises(DataError, match=rf"{victim.name} inside .*CUB_200_2011\.tgz is not"):
        load_cub(tmp_path / "root", progress=False)


def test_cub_truncated_tgz_is_named(tmp_path: Path, copies: dict[str, Path]) -> None:
    good = (copies["cub_tgz"] / "cub" / "CUB_200_2011.tgz").read_bytes()
    _write(tmp_path / "cub" / "CUB_200_2011.tgz", good[: len(good) // 2])
    with pytest.raises(DataError, match=r"CUB_200_2011\.tgz .*(ends early|not a readable)"):
        load_cub(tmp_path, progress=False)


# ------------------------------------------------------------------------------- CIFAR-FS


def test_cifar_zip_and_folder_agree_and_are_normalized(copies: dict[str, Path]) -> None:
    from_zip = load_cifarfs(copies["cifar_zip"], progress=False)
    from_folder = load_dataset("cifarfs", copies["cifar_folder"], progress=False)
    assert from_zip.info["format"] == "zip"
    assert from_zip.info["normalization"] == {"mean": list(MEAN), "std": list(STD)}
    _assert_usable(from_zip, {"train": 64, "val": 16, "test": 20})
    _assert_same(from_zip, from_folder)
    assert from_zip.split("val").class_names == _cifar_classes()["val"]
    for split in SPLITS:
        classes = from_zip.split(split)
        assert (classes.mean, classes.std) == (MEAN, STD)
        sampler = EpisodeSampler(classes, 5, 1, 1)
        raw, _ = sampler.task_uint8(0)
        batch = sampler.batch(0, 1)
        mean = torch.tensor(MEAN).view(3, 1, 1)
        std = torch.tensor(STD).view(3, 1, 1)
        expected = (raw[:, 0].float() / 255 - mean) / std
        torch.testing.assert_close(batch.x_support[0], expected)
        assert float(batch.x_support.min()) < -1.0  # standardized, not in [0, 1]


def test_cifar_missing_split_list_is_named(tmp_path: Path) -> None:
    extracted = write_cifar_folder(tmp_path / "extracted", skip_split_file="val")
    write_cifar_zip(tmp_path / "root" / "cifarfs" / "cifar100.zip", extracted)
    with pytest.raises(DataError, match=r"val: missing cifar100/splits/bertinetto/val\.txt inside"):
        load_cifarfs(tmp_path / "root", progress=False)


def test_cifar_class_without_images_is_named(tmp_path: Path) -> None:
    folder = write_cifar_folder(tmp_path / "cifarfs")
    shutil.rmtree(folder / "cifar100" / "data" / "class_70")
    with pytest.raises(DataError, match=r"val \(.*val\.txt.*\): classes without images: class_70"):
        load_cifarfs(tmp_path, progress=False)


def test_cifar_corrupt_zip_is_named(tmp_path: Path) -> None:
    _write(tmp_path / "cifarfs" / "cifar100.zip", b"PK\x03\x04 cut short")
    with pytest.raises(DataError, match=r"cifar100\.zip is not a readable zip file"):
        load_cifarfs(tmp_path, progress=False)
    report = check_dataset("cifarfs", tmp_path)
    assert not report.ok and "raw files: INVALID" in report.message
    assert "cifar100.zip is not a readable zip file" in report.message


# ------------------------------------------------------------------------- prepare/cache


@pytest.mark.parametrize(
    ("name", "key", "inside"),
    [
        ("miniimagenet", "mini_pickles", "miniimagenet"),
        ("tieredimagenet", "tiered_pickles", "tieredimagenet/train_labels.pkl"),
        ("cub", "cub_tgz", "cub/CUB_200_2011.tgz"),
        ("cifarfs", "cifar_zip", "cifarfs/cifar100.zip"),
    ],
)
def test_prepare_then_load_from_cache_is_identical(
    tmp_path: Path, copies: dict[str, Path], name: str, key: str, inside: str
) -> None:
    source = copies[key] / inside  # a download elsewhere: a folder or the file itself
    root = tmp_path / "root"
    cache = prepare_dataset(name, source, data_root=root, progress=False)
    assert cache == root / name / "cxgrad-cache-84"
    assert sorted(p.name for p in cache.iterdir()) == [
        "info.json",
        "test.json",
        "test.npy",
        "train.json",
        "train.npy",
        "val.json",
        "val.npy",
    ]
    assert [p.name for p in (root / name).iterdir()] == ["cxgrad-cache-84"]  # no temp left
    cached = load_dataset(name, root, progress=False)
    raw = load_dataset(name, copies[key], progress=False)
    assert cached.info["format"] == "cache" and str(cache) in cached.info["source"]
    _assert_same(cached, raw)
    assert cached.info.get("super_categories") == raw.info.get("super_categories")
    assert cached.info["normalization"] == raw.info["normalization"]


def test_cache_is_preferred_and_sized(tmp_path: Path, copies: dict[str, Path]) -> None:
    root = tmp_path / "root"
    shutil.copytree(copies["mini_pickles"] / "miniimagenet", root / "miniimagenet")
    cache = prepare_dataset("miniimagenet", root / "miniimagenet", root, 32, progress=False)
    assert cache.name == "cxgrad-cache-32"
    assert load_miniimagenet(root, 32, progress=False).info["format"] == "cache"
    assert load_miniimagenet(root, 84, progress=False).info["format"] == "pickle caches"
    # preparing again replaces the cache in place
    assert prepare_dataset("miniimagenet", root / "miniimagenet", root, 32, False) == cache


def test_cache_at_another_size_is_named_with_the_option(
    tmp_path: Path, copies: dict[str, Path]
) -> None:
    # Only a 32x32 cache is there (the raw copy was removed after prepare): the error must
    # say so and name the option that uses it, not claim that there is nothing at all.
    cache = prepare_dataset("cifarfs", copies["cifar_zip"], tmp_path, 32, progress=False)
    with pytest.raises(DataError) as raised:
        load_cifarfs(tmp_path, 84, progress=False)
    message = str(raised.value)
    assert f"found a 32x32 cache at {cache}; use --image-size 32" in message
    assert "no cache and no raw files" not in message


def test_interrupted_prepare_leaves_no_cache(
    tmp_path: Path, copies: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*_args, **_kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(cache_module.np, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        prepare_dataset("cifarfs", copies["cifar_zip"], tmp_path, progress=False)
    assert list((tmp_path / "cifarfs").iterdir()) == []


def test_damaged_cache_is_named(tmp_path: Path, copies: dict[str, Path]) -> None:
    cache = prepare_dataset("cub", copies["cub_folder"], tmp_path, 16, progress=False)
    (cache / "val.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"val\.npy.*Delete .*cxgrad-cache-16.*cxgrad data prepare"):
        load_cub(tmp_path, 16, progress=False)


def test_prepare_rejects_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"--source .*nowhere does not exist"):
        prepare_dataset("cub", tmp_path / "nowhere", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"(?s)no CUB-200-2011 copy recognised at .*empty.*tgz"):
        prepare_dataset("cub", tmp_path / "empty", tmp_path)
    with pytest.raises(ConfigError, match="omniglot needs no prepare step"):
        prepare_dataset("omniglot", tmp_path, tmp_path)


# ------------------------------------------------------------------- missing data, checks


@pytest.mark.parametrize(
    ("name", "needles"),
    [
        ("miniimagenet", ["mini-imagenet-cache-{train,val,test}.pkl", "{train,val,test}/<wnid>"]),
        ("tieredimagenet", ["{train,val,test}_images_png.pkl", "_labels.pkl"]),
        ("cub", ["CUB_200_2011.tgz", "CUB_200_2011/images/<NNN.Class_name>"]),
        ("cifarfs", ["cifar100.zip", "splits/bertinetto"]),
    ],
)
def test_missing_data_says_what_to_put_where(tmp_path: Path, name: str, needles) -> None:
    with pytest.raises(DataError) as info:
        load_dataset(name, tmp_path)
    message = str(info.value)
    assert f"not found under {tmp_path / name}" in message
    assert f"cxgrad data prepare {name} --source PATH" in message
    for needle in needles:
        assert needle in message
    report = check_dataset(name, tmp_path)
    assert not report.ok
    assert "raw files: MISSING" in report.message and "Get it:" in report.message
    assert needles[0] in report.message


@pytest.mark.parametrize(
    ("name", "key", "fmt", "counts"),
    [
        ("miniimagenet", "mini_pickles", "pickle caches", "train 64 classes (128 images), val 16"),
        ("tieredimagenet", "tiered_pickles", "pickles", "train 351 classes (702 images)"),
        ("cub", "cub_tgz", "official tgz", "train 100 classes (200 images), val 50"),
        ("cifarfs", "cifar_zip", "zip", "train 64 classes (128 images), val 16 (32 images)"),
    ],
)
def test_check_reports_format_and_counts(
    copies: dict[str, Path], name: str, key: str, fmt: str, counts: str
) -> None:
    report = check_dataset(name, copies[key])
    assert report.ok, report.message
    assert f"raw files: OK, {fmt} at" in report.message and counts in report.message


def test_check_reports_cache_and_invalid_copies(tmp_path: Path, copies: dict[str, Path]) -> None:
    prepare_dataset("cifarfs", copies["cifar_zip"], tmp_path, progress=False)
    report = check_dataset("cifarfs", tmp_path)
    assert report.ok
    assert "cache cxgrad-cache-84: OK, 84x84, train 64 classes (128 images)" in report.message
    assert "raw files: MISSING (not needed: the cache is used)" in report.message
    write_mini_pickles(tmp_path / "miniimagenet", {**MINI, "val": 15})
    report = check_dataset("miniimagenet", tmp_path)
    assert not report.ok
    assert "raw files: INVALID" in report.message and "15 classes, expected 16" in report.message


# ----------------------------------------------------------------------- normalization


def test_class_images_carry_and_check_normalization() -> None:
    images = torch.full((4, 3, 2, 2), 255, dtype=torch.uint8)
    offsets = torch.tensor([0, 2, 4])
    plain = ClassImages(images, offsets, ["a", "b"])
    assert plain.mean is None and torch.equal(plain.to_float(images), torch.ones(4, 3, 2, 2))
    scaled = ClassImages(images, offsets, ["a", "b"], mean=[0.5] * 3, std=(0.25, 0.5, 1))
    assert scaled.mean == (0.5, 0.5, 0.5) and scaled.std == (0.25, 0.5, 1.0)
    moved = scaled.to("cpu")
    assert (moved.mean, moved.std) == (scaled.mean, scaled.std)
    assert moved.to_float(images[:1])[0, :, 0, 0].tolist() == [2.0, 1.0, 0.5]
    with pytest.raises(DataError, match="both mean and std"):
        ClassImages(images, offsets, ["a", "b"], mean=(0.5, 0.5, 0.5))
    with pytest.raises(DataError, match="one value per channel"):
        ClassImages(images, offsets, ["a", "b"], mean=(0.5,), std=(1.0,))
    with pytest.raises(DataError, match="positive"):
        ClassImages(images, offsets, ["a", "b"], mean=(0, 0, 0), std=(1, 0, 1))
