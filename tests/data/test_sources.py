"""Image folders (directories and tars), format detection, bad input, the cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from reslab.data import DataWarning, open_source
from reslab.data.sources import FolderSource
from reslab.errors import DataError, OptionError

from .conftest import folder_files, image_bytes, write_folder, write_tar


def test_an_image_folder_loads_in_class_and_name_order(small_folder, data_root) -> None:
    source = open_source(small_folder, root=data_root)
    assert source.format == "image-folder" and source.name == "small" and source.small
    assert source.classes == ("ant", "bee", "cat") and source.splits == ("train", "test")
    train = source.load("train")
    assert train.images.shape == (18, 8, 8, 3)
    assert train.labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    # Class k was drawn around 40 + 60 k + 20.
    means = [train.images[train.labels == k].float().mean().item() for k in range(3)]
    assert means == pytest.approx([59.5, 119.5, 179.5], abs=2)
    assert source.samples("test")[0] == (small_folder / "test/ant/000.png", 0)


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz"])
def test_a_tar_of_an_image_folder_equals_the_folder(small_folder, data_root, suffix) -> None:
    files = {
        f"pack/{p.relative_to(small_folder)}": p.read_bytes()
        for p in sorted(small_folder.rglob("*.png"))
    }
    tar = open_source(write_tar(small_folder.parent / f"pack{suffix}", files), root=data_root)
    folder = open_source(small_folder, root=data_root)
    assert tar.format == "image-folder-tar" and tar.name == "pack"
    assert tar.classes == folder.classes
    for split in ("train", "test"):
        assert torch.equal(tar.load(split).images, folder.load(split).images)
        assert torch.equal(tar.load(split).labels, folder.load(split).labels)


def test_val_is_the_test_split_when_there_is_no_test(tmp_path: Path, data_root) -> None:
    path = write_folder(tmp_path / "d", folder_files({"train": 2, "val": 1}))
    source = open_source(path, root=data_root)
    assert source.splits == ("train", "val") and source.test_split == "val"
    assert len(source.load("val")) == 3
    with pytest.raises(OptionError, match="has no split 'test'; it has train, val"):
        source.load("test")


@pytest.mark.parametrize(("fmt", "mode"), [("JPEG", "L"), ("PNG", "L"), ("BMP", "RGB")])
def test_formats_and_grayscale(tmp_path: Path, data_root: Path, fmt: str, mode: str) -> None:
    files = folder_files({"train": 2, "test": 1}, fmt=fmt, mode=mode)
    source = open_source(write_folder(tmp_path / "d", files), root=data_root)
    train = source.load("train")
    assert train.channels == (1 if mode == "L" else 3)
    assert source.describe()["image"] == {"size": [8, 8], "mode": mode}


def test_a_folder_mixing_gray_and_colour_is_rgb(tmp_path: Path, data_root: Path) -> None:
    files = folder_files({"train": 2, "test": 1})
    files["train/ant/000.png"] = image_bytes(np.full((8, 8), 9, np.uint8))
    source = open_source(write_folder(tmp_path / "d", files), root=data_root)
    train = source.load("train")
    assert train.channels == 3 and train.images[0].unique().tolist() == [9]


def test_non_square_small_images(tmp_path: Path, data_root: Path) -> None:
    files = folder_files({"train": 2, "test": 1}, size=(6, 10))
    source = open_source(write_folder(tmp_path / "d", files), root=data_root)
    assert source.load("train").size == (6, 10)


def test_large_images_stream_from_files(tmp_path: Path, data_root: Path) -> None:
    files = folder_files({"train": 1, "val": 1}, size=(80, 100))
    source = open_source(write_folder(tmp_path / "d", files), root=data_root)
    assert not source.small
    with pytest.raises(OptionError, match=r"holds large images; they stream from files"):
        source.load("train")
    info = source.describe()
    assert info["image"]["min_size"] == [80, 100] and info["splits"]["val"]["images"] == 3
    assert info["stats_from"] == "a sample of 3 training images"


def test_a_tar_of_large_images_is_extracted_once(tmp_path: Path, data_root: Path) -> None:
    files = {f"big/{k}": v for k, v in folder_files({"train": 1, "test": 1}, size=(70, 70)).items()}
    source = open_source(write_tar(tmp_path / "big.tar.gz", files), root=data_root)
    path, label = source.samples("train")[1]
    assert label == 1 and path.read_bytes() == files["big/train/bee/000.png"]
    assert path.is_relative_to(data_root / "cache")


# --- bad input: each one a clear error naming the file ------------------------------------


def test_a_corrupt_image_names_its_file(small_folder: Path, data_root: Path) -> None:
    (small_folder / "train/bee/003.png").write_bytes(b"not an image at all")
    source = open_source(small_folder, root=data_root)
    with pytest.raises(DataError, match=r"train/bee/003.png: not a readable image.*--skip-bad"):
        source.load("train")


def test_a_truncated_jpeg_names_its_file(tmp_path: Path, data_root: Path) -> None:
    files = folder_files({"train": 2, "test": 1}, fmt="JPEG")
    files["train/cat/001.jpeg"] = files["train/cat/001.jpeg"][:200]
    source = open_source(write_folder(tmp_path / "d", files), root=data_root)
    assert len(source.load("test")) == 3  # each split answers for its own files
    with pytest.raises(DataError, match=r"train/cat/001.jpeg: not a readable image"):
        source.load("train")


def test_skip_bad_skips_counts_warns_and_records(small_folder: Path, data_root: Path) -> None:
    for name in ("train/bee/003.png", "train/cat/000.png"):
        (small_folder / name).write_bytes(b"garbage")
    source = open_source(small_folder, root=data_root, skip_bad=True)
    with pytest.warns(DataWarning, match=r"skipped 2 unreadable images of .*small \(first: "):
        train = source.load("train")
    assert len(train) == 16 and train.counts() == [6, 5, 5]
    assert source.skipped == [
        str(small_folder / "train/bee/003.png"),
        str(small_folder / "train/cat/000.png"),
    ]
    assert source.describe()["skipped"] == source.skipped
    # The cache remembers the bad files: a strict open still fails, naming the first.
    with pytest.raises(DataError, match=r"bee/003.png.*\(and 1 more unreadable images\)"):
        open_source(small_folder, root=data_root).load("train")


def test_a_bad_image_in_a_tar_is_named_by_member(small_folder, data_root) -> None:
    files = {
        f"p/{q.relative_to(small_folder)}": q.read_bytes() for q in small_folder.rglob("*.png")
    }
    files["p/test/ant/001.png"] = b"\x89PNG broken"
    source = open_source(write_tar(small_folder.parent / "p.tar", files), root=data_root)
    with pytest.raises(DataError, match=r"p.tar:p/test/ant/001.png: not a readable image"):
        source.load("test")


def test_an_empty_class_folder_is_named(small_folder: Path, data_root: Path) -> None:
    (small_folder / "test/dog").mkdir()
    (small_folder / "train/dog").mkdir()
    (small_folder / "train/dog/.DS_Store").write_bytes(b"")  # hidden files are no images
    with pytest.raises(DataError, match=r"small/train/dog: empty class folder"):
        open_source(small_folder, root=data_root)


def test_different_classes_in_train_and_test(small_folder: Path, data_root: Path) -> None:
    shutil.rmtree(small_folder / "test/bee")
    (small_folder / "test/bees").mkdir()
    (small_folder / "test/bees/a.png").write_bytes(b"")
    with pytest.raises(
        DataError,
        match=r"train and test have different classes \(only in "
        r"train: bee; only in test: bees\)",
    ):
        open_source(small_folder, root=data_root)


def test_mixed_sizes_in_a_small_source_name_the_odd_file(small_folder, data_root) -> None:
    (small_folder / "train/cat/002.png").write_bytes(image_bytes(np.zeros((9, 8, 3), np.uint8)))
    source = open_source(small_folder, root=data_root)
    with pytest.raises(DataError, match=r"train/cat/002.png: image is 8x9, but .* is 8x8"):
        source.load("train")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir() or p, r"a directory in no known format"),
        (lambda p: (p / "train/a").mkdir(parents=True) or p, r"not an image folder"),
        (lambda p: p.write_text("hello") and p, r"a file in no known format"),
    ],
    ids=["empty-dir", "train-only", "text-file"],
)
def test_a_path_in_no_known_format(tmp_path: Path, data_root, make, message) -> None:
    path = make(tmp_path / "thing")
    with pytest.raises(DataError, match=f"thing: {message}"):
        open_source(path, root=data_root)


def test_a_missing_path_suggests_a_name(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"cifar-10: no such file or directory.*did you mean cifar10"
    ):
        open_source("cifar-10", root=tmp_path)


# --- the cache ------------------------------------------------------------------------


def test_the_cache_is_keyed_by_the_source(small_folder: Path, data_root: Path, monkeypatch) -> None:
    first = open_source(small_folder, root=data_root).load("train")
    decoded = []
    original = FolderSource._decode_all
    monkeypatch.setattr(
        FolderSource, "_decode_all", lambda self: decoded.append(1) or original(self)
    )
    assert torch.equal(open_source(small_folder, root=data_root).load("train").images, first.images)
    assert decoded == []  # a second open reads the arrays back
    (small_folder / "train/ant/000.png").write_bytes(image_bytes(np.zeros((8, 8, 3), np.uint8)))
    changed = open_source(small_folder, root=data_root).load("train")
    assert decoded == [1] and changed.images[0].sum() == 0
    assert len(list((data_root / "cache").iterdir())) == 2


def test_the_data_root_comes_from_the_environment(small_folder, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RESLAB_DATA", str(tmp_path / "env-root"))
    open_source(small_folder).load("test")
    assert len(list((tmp_path / "env-root" / "cache").iterdir())) == 1
