"""Data layer: Omniglot (real and fake layouts), synthetic glyphs, episodes, registry, paths.

The real Omniglot is read in place from ``$CXGRAD_TEST_DATA`` or ``$CXGRAD_DATA_ROOT``,
through the ``omniglot_root`` fixture of ``conftest.py``. Loader edge cases
run on a tiny fake Omniglot written to ``tmp_path``, with the expected official layout
monkeypatched to match, so they take milliseconds.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cxgrad.data import (
    DATASETS,
    ClassImages,
    EpisodeSampler,
    FewShotDataset,
    check_dataset,
    load_dataset,
    load_omniglot,
    load_synthetic,
    resolve_data_root,
)
from cxgrad.data import fashion_mnist as fashion_module
from cxgrad.data import omniglot as omniglot_module
from cxgrad.data.episodes import TaskBatch
from cxgrad.data.registry import get_spec
from cxgrad.errors import ConfigError, DataError

URL = omniglot_module.OFFICIAL_URL

# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def omniglot_alphabet(omniglot_root: Path):
    return load_omniglot(omniglot_root, progress=False)


@pytest.fixture(scope="module")
def omniglot_maml(omniglot_root: Path):
    return load_omniglot(omniglot_root, split="maml", progress=False)


# A fake Omniglot: 2 background alphabets, 7 evaluation alphabets (5 for val, 2 for test).
FAKE_LAYOUT = {
    "images_background": {"Alpha": 2, "Beta": 1},
    "images_evaluation": {f"Eval{i}": 1 + i % 2 for i in range(7)},
}
FAKE_SIZE = 12


@pytest.fixture
def fake_layout(monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setattr(omniglot_module, "OFFICIAL_LAYOUT", FAKE_LAYOUT)
    return FAKE_LAYOUT


def fake_files(part: str) -> dict[str, bytes]:
    """Zip member name -> PNG bytes; each image unique and a pure function of its path."""
    files = {}
    for alphabet, n_chars in FAKE_LAYOUT[part].items():
        for c in range(1, n_chars + 1):
            for j in range(1, 21):
                name = f"{part}/{alphabet}/character{c:02d}/{c:04d}_{j:02d}.png"
                rng = np.random.default_rng(zlib.crc32(name.encode()))
                ink = rng.random((FAKE_SIZE, FAKE_SIZE)) > 0.2  # 1-bit, like the official PNGs
                buffer = io.BytesIO()
                Image.fromarray(ink).save(buffer, format="PNG")
                files[name] = buffer.getvalue()
    return files


def write_fake(root: Path, as_zip: bool, parts=omniglot_module.PARTS) -> Path:
    """Write the fake parts under ``root/omniglot`` as zips or extracted folders."""
    folder = root / "omniglot"
    folder.mkdir(parents=True, exist_ok=True)
    for part in parts:
        files = fake_files(part)
        if as_zip:
            with zipfile.ZipFile(folder / f"{part}.zip", "w") as archive:
                for name, data in files.items():
                    archive.writestr(name, data)
        else:
            for name, data in files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(data)
    return folder


def forbid_download(monkeypatch: pytest.MonkeyPatch) -> list:
    """Make every download fail like an offline machine; returns the recorded calls."""
    import torchvision.datasets.utils

    calls = []

    def offline(url, root, filename=None, md5=None, **kwargs):
        calls.append((url, root, filename, md5))
        partial = Path(root) / filename
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(b"half a download")  # must be cleaned up by the loader
        raise OSError("Network is unreachable")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", offline)
    return calls


# ------------------------------------------------------------------------- real Omniglot


def alphabets(classes: ClassImages) -> set[str]:
    return {name.split("/")[0] for name in classes.class_names}


def test_real_alphabet_split(omniglot_alphabet) -> None:
    train, val, test = (omniglot_alphabet.split(k) for k in ("train", "val", "test"))
    assert train.num_classes == 964
    assert val.num_classes + test.num_classes == 659
    assert (len(alphabets(train)), len(alphabets(val)), len(alphabets(test))) == (30, 5, 15)
    assert alphabets(val) == set(sorted(alphabets(val) | alphabets(test))[:5])
    assert not alphabets(train) & alphabets(val)
    assert not alphabets(train) & alphabets(test)
    assert not alphabets(val) & alphabets(test)
    names = [set(s.class_names) for s in (train, val, test)]
    assert sum(map(len, names)) == len(set.union(*names)) == 1623
    for split in (train, val, test):
        assert split.counts.eq(20).all()
        assert split.image_shape == (1, 28, 28)
        assert split.images.dtype == torch.uint8
        assert not split.rotations
    assert int(train.images.min()) == 0 and int(train.images.max()) == 255
    assert train.images.float().mean() > 200  # white background, dark ink
    assert omniglot_alphabet.info["split"] == "alphabet"
    assert "alphabet" in omniglot_alphabet.description


def test_real_maml_split(omniglot_maml, omniglot_root: Path) -> None:
    train, val, test = (omniglot_maml.split(k) for k in ("train", "val", "test"))
    assert [s.num_base_classes for s in (train, val, test)] == [1100, 100, 423]
    assert [s.num_classes for s in (train, val, test)] == [4400, 400, 1692]
    assert omniglot_maml.info["rotations"] is True
    names = [set(s.class_names) for s in (train, val, test)]
    assert len(set.union(*names)) == 1623
    assert not names[0] & names[1] and not names[0] & names[2] and not names[1] & names[2]
    # Membership is fixed by the seed; pinned so that an accidental change is noticed.
    again = load_omniglot(omniglot_root, split="maml", rotations=False, progress=False)
    assert again.split("test").class_names == test.class_names
    assert not again.split("train").rotations
    assert val.class_names[:3] == [
        "Alphabet_of_the_Magi/character12",
        "Angelic/character03",
        "Angelic/character08",
    ]


def test_real_second_load_is_cached(
    omniglot_alphabet, omniglot_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_decoding(*args, **kwargs):
        raise AssertionError("images were decoded again")

    monkeypatch.setattr(omniglot_module, "_decode_part", no_decoding)
    again = load_dataset("omniglot", data_root=omniglot_root, progress=False)
    assert torch.equal(again.split("val").images, omniglot_alphabet.split("val").images)
    check = check_dataset("omniglot", omniglot_root)
    assert check.ok, check.message
    assert "964 characters" in check.message and "659 characters" in check.message


# sha256 of each split's uint8 images at 28x28. Training results of record and the book's
# numbers depend on these exact pixels: a change of reader, decoder or order must not move one.
REAL_IMAGE_SHA256 = {
    ("alphabet", "train"): "e530259da819da5c3e1f317397ba27e7a19666beeee4061377e1a1f6266b0acb",
    ("alphabet", "val"): "7eee534791a304d3330eb4a414804cc63c3841c46242ff8476b1dd2a8e7f6256",
    ("alphabet", "test"): "3c0860437d9644359b1cc0d8ca07e9dc9c490538d1ef53a03deb7ed0fe5f4e1f",
    ("maml", "train"): "c1fabad195a002d34aca6a568cf2ecab39217f58cb24536a6631fbc52718988b",
    ("maml", "val"): "0a8dfc9b0d0e36e6184b6db7087128b761bae3b38a10ce3346844228974775bc",
    ("maml", "test"): "60921a6d629bde93b4d5ba340454270979eb418dab79c8ff54c20e8c757679ad",
}


def test_real_images_are_bit_identical(omniglot_alphabet, omniglot_maml) -> None:
    for protocol, dataset in (("alphabet", omniglot_alphabet), ("maml", omniglot_maml)):
        for split in ("train", "val", "test"):
            images = dataset.split(split).images.numpy()
            digest = hashlib.sha256(images.tobytes()).hexdigest()
            assert digest == REAL_IMAGE_SHA256[protocol, split], (protocol, split)


def test_real_rotated_episodes(omniglot_maml) -> None:
    sampler = EpisodeSampler(omniglot_maml.split("train"), ways=20, shots=1, queries=5)
    batch = sampler.batch(0, 2)
    assert batch.x_support.shape == (2, 20, 1, 28, 28)
    assert batch.x_query.shape == (2, 100, 1, 28, 28)


# ---------------------------------------------------------------- fake Omniglot: loading


def test_zip_and_folder_give_identical_tensors(fake_layout, tmp_path: Path) -> None:
    write_fake(tmp_path / "zipped", as_zip=True)
    write_fake(tmp_path / "folders", as_zip=False)
    zipped = load_omniglot(tmp_path / "zipped", image_size=8, progress=False)
    folders = load_omniglot(tmp_path / "folders", image_size=8, progress=False)
    assert "zip" in zipped.info["sources"]["images_background"]
    assert "extracted folder" in folders.info["sources"]["images_background"]
    for key in ("train", "val", "test"):
        assert zipped.split(key).class_names == folders.split(key).class_names
        assert torch.equal(zipped.split(key).images, folders.split(key).images)
    assert zipped.image_shape == (1, 8, 8)
    assert alphabets(zipped.split("val")) == {f"Eval{i}" for i in range(5)}
    assert alphabets(zipped.split("test")) == {"Eval5", "Eval6"}


def test_doubly_nested_extraction_is_found(fake_layout, tmp_path: Path) -> None:
    folder = write_fake(tmp_path / "inner", as_zip=False)
    (tmp_path / "omniglot").mkdir()
    for part in omniglot_module.PARTS:  # as "unzip x.zip -d x" leaves it: x/x/<Alphabet>
        (tmp_path / "omniglot" / part).mkdir()
        (folder / part).rename(tmp_path / "omniglot" / part / part)
    dataset = load_omniglot(tmp_path, image_size=8, progress=False)
    assert dataset.split("train").num_classes == 3


def test_folder_is_preferred_over_zip(fake_layout, tmp_path: Path) -> None:
    folder = write_fake(tmp_path, as_zip=False)
    for part in omniglot_module.PARTS:
        (folder / f"{part}.zip").write_bytes(b"not a zip")  # would fail if it were read
    dataset = load_omniglot(tmp_path, image_size=8, progress=False)
    assert dataset.split("train").num_classes == 3


def test_missing_data_and_failed_download(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    calls = forbid_download(monkeypatch)
    with pytest.raises(DataError) as error:
        load_omniglot(tmp_path, progress=False)
    message = str(error.value)
    folder = tmp_path / "omniglot"
    for part in omniglot_module.PARTS:
        assert f"{part}.zip" in message
        assert str(folder / f"{part}.zip") in message
        assert str(folder / part) in message  # the extracted-folder alternative
        assert f"{URL}{part}.zip" in message
        assert not (folder / f"{part}.zip").exists()  # the partial download was removed
    assert "--data-root" in message and "CXGRAD_DATA_ROOT" in message
    assert "Network is unreachable" in message
    assert {c[0] for c in calls} == {f"{URL}images_background.zip", f"{URL}images_evaluation.zip"}
    assert {c[3] for c in calls} == set(omniglot_module.OFFICIAL_MD5.values())


def test_download_false_never_downloads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    calls = forbid_download(monkeypatch)
    with pytest.raises(DataError, match="download=False"):
        load_omniglot(tmp_path, download=False, progress=False)
    assert calls == []


def test_download_fetches_only_missing_part(
    fake_layout, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_fake(tmp_path, as_zip=True, parts=["images_background"])
    fetched = []

    def fake_download(url, root, filename=None, md5=None, **kwargs):
        fetched.append(filename)
        write_fake(Path(root).parent, as_zip=True, parts=[filename.removesuffix(".zip")])

    monkeypatch.setattr(omniglot_module, "download_url", fake_download)  # the module's hook
    dataset = load_omniglot(tmp_path, image_size=8, progress=False)
    assert fetched == ["images_evaluation.zip"]
    assert dataset.split("test").num_classes == 3


def test_missing_alphabet_is_named(fake_layout, tmp_path: Path) -> None:
    folder = write_fake(tmp_path, as_zip=False)
    for png in (folder / "images_background" / "Beta").rglob("*.png"):
        png.unlink()
    with pytest.raises(DataError) as error:
        load_omniglot(tmp_path, progress=False)
    message = str(error.value)
    assert "alphabets missing (1 of 2): Beta" in message
    assert str(folder / "images_background") in message
    assert "images_background.zip" in message  # how to fix


def test_short_character_is_named(fake_layout, tmp_path: Path) -> None:
    folder = write_fake(tmp_path, as_zip=True)
    archive_path = folder / "images_evaluation.zip"
    files = fake_files("images_evaluation")
    del files["images_evaluation/Eval3/character02/0002_07.png"]
    with zipfile.ZipFile(archive_path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    with pytest.raises(DataError) as error:
        load_omniglot(tmp_path, progress=False)
    assert "Eval3/character02 (19 images)" in str(error.value)
    assert str(archive_path) in str(error.value)


def test_corrupt_png_in_folder_is_named(fake_layout, tmp_path: Path) -> None:
    folder = write_fake(tmp_path, as_zip=False)
    bad = folder / "images_background" / "Alpha" / "character02" / "0002_05.png"
    bad.write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError) as error:
        load_omniglot(tmp_path, progress=False)
    assert str(bad) in str(error.value)
    assert "download" in str(error.value)


def test_corrupt_png_in_zip_is_named(fake_layout, tmp_path: Path) -> None:
    folder = write_fake(tmp_path, as_zip=True)
    files = fake_files("images_background")
    member = "images_background/Beta/character01/0001_11.png"
    files[member] = files[member][:40]  # truncated image
    with zipfile.ZipFile(folder / "images_background.zip", "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    with pytest.raises(DataError) as error:
        load_omniglot(tmp_path, progress=False)
    assert f"{member} inside {folder / 'images_background.zip'}" in str(error.value)


def test_corrupt_zip_is_named(fake_layout, tmp_path: Path) -> None:
    folder = write_fake(tmp_path, as_zip=True)
    archive = folder / "images_evaluation.zip"
    archive.write_bytes(archive.read_bytes()[:1000])  # truncated download
    with pytest.raises(DataError) as error:
        load_omniglot(tmp_path, progress=False)
    assert str(archive) in str(error.value)
    assert "not a readable zip" in str(error.value)


def test_check_omniglot_reports_without_downloading(
    fake_layout, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = forbid_download(monkeypatch)
    missing = check_dataset("omniglot", tmp_path / "nothing")
    assert not missing.ok
    assert "MISSING" in missing.message and f"{URL}images_evaluation.zip" in missing.message
    write_fake(tmp_path, as_zip=True)
    good = check_dataset("omniglot", tmp_path)
    assert good.ok, good.message
    assert "OK, 2 alphabets, 3 characters, 60 images" in good.message
    bad = tmp_path / "omniglot" / "images_evaluation.zip"
    bad.write_bytes(b"garbage")
    broken = check_dataset("omniglot", tmp_path)
    assert not broken.ok and str(bad) in broken.message
    assert calls == []


def test_omniglot_rejects_bad_options(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="alphabet, maml"):
        load_omniglot(tmp_path, split="vinyals", progress=False)
    with pytest.raises(DataError, match="image_size"):
        load_omniglot(tmp_path, image_size=0, progress=False)


# ------------------------------------------------------------------------------ data root


def test_resolve_data_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("CXGRAD_DATA_ROOT", raising=False)
    assert resolve_data_root(None) == tmp_path / "home" / ".cache" / "cxgrad" / "data"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_root(None) == tmp_path / "xdg" / "cxgrad" / "data"
    monkeypatch.setenv("CXGRAD_DATA_ROOT", str(tmp_path / "env"))
    assert resolve_data_root(None) == tmp_path / "env"
    assert resolve_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_root("~/data") == tmp_path / "home" / "data"


# ------------------------------------------------------------------------------ synthetic


def test_synthetic_is_deterministic_and_prefix_stable() -> None:
    small = load_synthetic((10, 3, 4), images_per_class=5)
    large = load_synthetic((50, 3, 4), images_per_class=20)
    again = load_synthetic((10, 3, 4), images_per_class=5)
    for key in ("train", "val", "test"):
        assert torch.equal(small.split(key).images, again.split(key).images)
    first_ten = large.split("train").images.view(50, 20, 1, 28, 28)[:10, :5]
    assert torch.equal(small.split("train").images.view(10, 5, 1, 28, 28), first_ten)
    assert not torch.equal(
        small.split("train").take(0, torch.arange(5)), small.split("val").take(0, torch.arange(5))
    )
    other_seed = load_synthetic((10, 3, 4), images_per_class=5, seed=1)
    assert not torch.equal(small.split("train").images, other_seed.split("train").images)


def test_synthetic_shapes_and_polarity() -> None:
    dataset = load_synthetic((4, 2, 3), images_per_class=6, image_size=20)
    train = dataset.split("train")
    assert train.images.shape == (24, 1, 20, 20) and train.images.dtype == torch.uint8
    assert train.counts.tolist() == [6] * 4
    assert [dataset.split(k).num_classes for k in ("val", "test")] == [2, 3]
    assert int(train.images.max()) == 255 and int(train.images.min()) < 50
    assert train.images.float().mean() > 180  # white background, dark ink


def nearest_neighbour_accuracy(classes: ClassImages, tasks: int = 100) -> float:
    batch = EpisodeSampler(classes, ways=5, shots=1, queries=5, split_name="test").batch(0, tasks)
    distances = torch.cdist(batch.x_query.flatten(2), batch.x_support.flatten(2))
    predicted = batch.y_support.gather(1, distances.argmin(-1))
    return (predicted == batch.y_query).float().mean().item()


def test_synthetic_classes_are_learnable_but_not_trivial() -> None:
    accuracy = nearest_neighbour_accuracy(load_synthetic((8, 8, 40)).split("test"))
    assert 0.4 < accuracy < 0.9  # chance is 0.2; measured about 0.55-0.62 across seeds


def test_synthetic_rejects_bad_options() -> None:
    with pytest.raises(DataError, match="num_classes"):
        load_synthetic((10, 0, 5))
    with pytest.raises(DataError, match="images_per_class"):
        load_synthetic(images_per_class=1)


# ------------------------------------------------------------------------------- episodes


@pytest.fixture
def unique_classes() -> ClassImages:
    """10 classes x 6 distinct random images, so every image identifies (class, index)."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (60, 1, 5, 5), dtype=torch.uint8, generator=generator)
    assert len({bytes(im.flatten().tolist()) for im in images}) == 60
    offsets = torch.arange(11) * 6
    return ClassImages(images, offsets, [f"class{c}" for c in range(10)])


def image_ids(classes: ClassImages) -> dict[bytes, tuple[int, int]]:
    return {
        bytes(classes.images[row].flatten().tolist()): (row // 6, row % 6)
        for row in range(len(classes.images))
    }


def to_key(image: torch.Tensor) -> bytes:
    return bytes(image.mul(255).round().to(torch.uint8).flatten().tolist())


def test_same_task_index_gives_identical_tasks(unique_classes: ClassImages) -> None:
    first = EpisodeSampler(unique_classes, ways=5, shots=2, queries=3, seed=7).batch(10, 4)
    second = EpisodeSampler(unique_classes, ways=5, shots=2, queries=3, seed=7).batch(10, 4)
    assert torch.equal(first.x_support, second.x_support)
    assert torch.equal(first.x_query, second.x_query)
    shifted = EpisodeSampler(unique_classes, ways=5, shots=2, queries=3, seed=7).batch(11, 4)
    assert not torch.equal(first.x_support[0], shifted.x_support[0])
    other_split = EpisodeSampler(unique_classes, 5, 2, 3, seed=7, split_name="val").batch(10, 4)
    assert not torch.equal(first.x_support, other_split.x_support)


def test_episode_labels_shapes_and_disjointness(unique_classes: ClassImages) -> None:
    ways, shots, queries = 4, 2, 3
    batch = EpisodeSampler(unique_classes, ways, shots, queries).batch(0, 8)
    assert batch.x_support.shape == (8, ways * shots, 1, 5, 5)
    assert batch.x_query.shape == (8, ways * queries, 1, 5, 5)
    assert batch.y_support.dtype == torch.int64
    assert float(batch.x_support.min()) >= 0.0 and float(batch.x_support.max()) <= 1.0
    ids = image_ids(unique_classes)
    for b in range(len(batch)):
        assert torch.bincount(batch.y_support[b]).tolist() == [shots] * ways
        assert torch.bincount(batch.y_query[b]).tolist() == [queries] * ways
        support = [ids[to_key(x)] for x in batch.x_support[b]]
        query = [ids[to_key(x)] for x in batch.x_query[b]]
        assert not set(support) & set(query)
        assert len(set(support + query)) == ways * (shots + queries)
        for label in range(ways):  # one class per label, the same in support and query
            in_support = {
                support[i][0] for i in range(len(support)) if batch.y_support[b, i] == label
            }
            in_query = {query[i][0] for i in range(len(query)) if batch.y_query[b, i] == label}
            assert len(in_support) == 1 and in_support == in_query


def test_episode_sampler_rejects_impossible_tasks(unique_classes: ClassImages) -> None:
    with pytest.raises(DataError, match="has only 10"):
        EpisodeSampler(unique_classes, ways=11, shots=1, queries=1)
    with pytest.raises(DataError, match="only 6 images"):
        EpisodeSampler(unique_classes, ways=5, shots=3, queries=4)


def test_batch_written_into_buffers_equals_a_new_batch(unique_classes: ClassImages) -> None:
    sampler = EpisodeSampler(unique_classes, ways=4, shots=2, queries=1, seed=3)
    buffers = TaskBatch(*(torch.full_like(t, -1) for t in sampler.batch(0, 3).tensors()))
    returned = sampler.batch(5, 3, out=buffers)
    assert returned is buffers
    for written, fresh in zip(buffers.tensors(), sampler.batch(5, 3).tensors(), strict=True):
        assert torch.equal(written, fresh)
    float64 = TaskBatch(*(t.double() if t.is_floating_point() else t for t in buffers.tensors()))
    assert torch.equal(
        sampler.batch(6, 3, out=float64).x_query, sampler.batch(6, 3).x_query.double()
    )


def test_batch_into_wrong_buffers_is_refused(unique_classes: ClassImages) -> None:
    sampler = EpisodeSampler(unique_classes, ways=4, shots=2, queries=1)
    buffers = sampler.batch(0, 3)
    with pytest.raises(
        DataError,
        match=r"3 4-way 2-shot 1-query tasks into out.x_query of shape "
        r"\(2, 4, 1, 5, 5\).*shape \(3, 4, 1, 5, 5\)",
    ):
        sampler.batch(
            0,
            3,
            out=TaskBatch(
                buffers.x_support, buffers.y_support, buffers.x_query[:2], buffers.y_query
            ),
        )
    with pytest.raises(DataError, match=r"2 4-way.*out.x_support of shape \(1, 8, 1, 5, 5\)"):
        sampler.batch(0, 2, out=sampler.batch(0, 4).task(0))
    strided = sampler.batch(0, 3)
    strided.x_support = strided.x_support.transpose(3, 4)
    with pytest.raises(DataError, match="out.x_support.*must be a contiguous tensor"):
        sampler.batch(0, 3, out=strided)


def test_rotated_classes_are_rotated_images(unique_classes: ClassImages) -> None:
    rotated = ClassImages(
        unique_classes.images, unique_classes.offsets, unique_classes.class_names, True
    )
    assert rotated.num_classes == 40
    assert rotated.class_name(13) == "class3@rot90"
    picks = torch.arange(6)
    for turns in range(4):
        expected = torch.rot90(unique_classes.take(3, picks), turns, dims=(2, 3))
        assert torch.equal(rotated.take(3 + 10 * turns, picks), expected)
    images, chosen = EpisodeSampler(rotated, ways=10, shots=1, queries=1).task_uint8(0)
    for row, c in zip(images, chosen.tolist(), strict=True):
        base = unique_classes.take(c % 10, picks)
        originals = {bytes(x.flatten().tolist()) for x in base}
        for image in row:
            unrotated = torch.rot90(image, -(c // 10), dims=(1, 2))
            assert bytes(unrotated.flatten().tolist()) in originals


# ------------------------------------------------------------------------------- registry


def test_registry_names() -> None:
    assert set(DATASETS) == {
        "omniglot",
        "synthetic",
        "miniimagenet",
        "tieredimagenet",
        "cub",
        "cifarfs",
        "fashionmnist",
    }
    with pytest.raises(ConfigError, match="unknown dataset 'imagenet'.*omniglot.*miniimagenet"):
        load_dataset("imagenet")


def test_spec_gives_channels_and_natural_image_size() -> None:
    natural = {name: (spec.channels, spec.image_size) for name, spec in DATASETS.items()}
    assert natural == {
        "omniglot": (1, 28),
        "synthetic": (1, 28),
        "miniimagenet": (3, 84),
        "tieredimagenet": (3, 84),
        "cub": (3, 84),
        "cifarfs": (3, 32),
        "fashionmnist": (1, 28),
    }
    synthetic = load_dataset("synthetic", num_classes=(2, 2, 2), images_per_class=2)
    spec = get_spec("synthetic")
    assert synthetic.image_shape == (spec.channels, spec.image_size, spec.image_size)


def test_fashion_mnist_is_test_only_and_refuses_training() -> None:
    assert [name for name, spec in DATASETS.items() if spec.test_only] == ["fashionmnist"]
    with pytest.raises(
        ConfigError,
        match=r"fashionmnist is a cross-domain test set only.*"
        r"cxgrad evaluate --dataset fashionmnist",
    ):
        get_spec("fashionmnist").check_trainable()
    get_spec("omniglot").check_trainable()  # an ordinary dataset trains


def test_load_dataset_dispatches_and_checks_options(tmp_path: Path) -> None:
    dataset = load_dataset(
        "Synthetic", data_root=tmp_path, image_size=16, num_classes=(3, 2, 2), seed=None
    )
    assert dataset.name == "synthetic" and dataset.image_shape == (1, 16, 16)
    with pytest.raises(ConfigError, match="does not take option.*rotations"):
        load_dataset("synthetic", rotations=True)
    assert check_dataset("synthetic").ok


# ------------------------------------------------------------------- class-disjoint splits


def assert_class_disjoint(dataset: FewShotDataset) -> None:
    """No class name in two splits, and the dataset agrees with its spec on test-only."""
    names = [set(dataset.split(s).class_names) for s in ("train", "val", "test")]
    assert sum(map(len, names)) == len(set.union(*names)), dataset.name
    assert not dataset.test_only and not get_spec(dataset.name).test_only


def _toy_split(*names: str) -> ClassImages:
    return ClassImages.from_list([torch.zeros(2, 1, 4, 4, dtype=torch.uint8)] * len(names), names)


def test_a_class_in_two_splits_is_refused_unless_test_only() -> None:
    splits = {"train": _toy_split("a", "b"), "val": _toy_split("c"), "test": _toy_split("b")}
    with pytest.raises(DataError, match=r"'toy' has 1 class\(es\) in more than one split: b "):
        FewShotDataset("toy", splits)
    assert FewShotDataset("toy", splits, test_only=True).test_only


def test_every_loader_here_gives_class_disjoint_splits(fake_layout, tmp_path: Path) -> None:
    assert_class_disjoint(load_synthetic((4, 3, 3), images_per_class=2))
    for as_zip in (True, False):
        root = tmp_path / str(as_zip)
        write_fake(root, as_zip=as_zip)
        # the maml split needs the real 1,623 characters: see the test below
        assert_class_disjoint(load_omniglot(root, image_size=8, progress=False))


def test_real_omniglot_splits_are_class_disjoint(omniglot_alphabet, omniglot_maml) -> None:
    assert_class_disjoint(omniglot_alphabet)
    assert_class_disjoint(omniglot_maml)


def write_fake_fashion(folder: Path, per_class: dict[str, int]) -> None:
    """The four official idx files, ``per_class`` images of each of the ten classes."""
    folder.mkdir(parents=True)
    for part, (images_name, labels_name) in fashion_module.FILES.items():
        labels = np.repeat(np.arange(10, dtype=np.uint8), per_class[part])
        images = np.random.default_rng(0).integers(0, 256, (len(labels), 28, 28), np.uint8)
        for name, array in ((images_name, images), (labels_name, labels)):
            header = bytes([0, 0, 8, array.ndim])
            header += b"".join(n.to_bytes(4, "big") for n in array.shape)
            with gzip.open(folder / name, "wb") as handle:
                handle.write(header + array.tobytes())


def test_fashion_mnist_loads_as_a_test_only_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fashion_module, "VALIDATION_IMAGES", 10)
    write_fake_fashion(tmp_path / "fashion-mnist", {"train": 3, "test": 2})
    dataset = load_dataset("fashionmnist", data_root=tmp_path)
    # The same ten classes in every split: only allowed because it is marked test-only.
    bare = [{n.split("/", 1)[1] for n in dataset.split(s).class_names} for s in ("train", "test")]
    assert bare[0] == bare[1] == set(fashion_module.CLASSES)
    assert dataset.test_only and get_spec("fashionmnist").test_only
