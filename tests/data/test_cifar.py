"""The official CIFAR-10/100 "python version", written by the tests in exactly that layout."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from reslab.data import open_source
from reslab.errors import DataError, OptionError

from .conftest import cifar_files, write_cifar, write_tar


@pytest.mark.parametrize("archive", [True, False], ids=["archive", "folder"])
def test_cifar10_reads_the_official_layout(tmp_path: Path, data_root: Path, archive) -> None:
    path = write_cifar(tmp_path, "cifar10", archive=archive)
    source = open_source(path, root=data_root)
    assert source.format == "cifar10-python" and source.name == "cifar10" and source.small
    assert source.classes == tuple(f"c{i}" for i in range(10))
    assert source.splits == ("train", "test") and source.test_split == "test"
    train, test = source.load("train"), source.load("test")
    assert train.images.shape == (50, 32, 32, 3) and test.images.shape == (10, 32, 32, 3)
    # Rows are R, G, B planes: R holds the row index, G the column, B the image's number.
    assert torch.equal(train.images[3, :, :, 0], torch.arange(32)[:, None].expand(32, 32).byte())
    assert torch.equal(train.images[3, :, :, 1], torch.arange(32)[None, :].expand(32, 32).byte())
    assert train.images[:, 0, 0, 2].tolist() == list(range(50))  # batches 1..5 in order
    assert test.images[:, 0, 0, 2].tolist() == list(range(50, 60))
    assert train.labels.tolist() == [i % 10 for i in range(50)]


def test_cifar100_has_fine_and_coarse_labels(tmp_path: Path, data_root: Path) -> None:
    source = open_source(write_cifar(tmp_path, "cifar100"), root=data_root)
    assert source.format == "cifar100-python" and len(source.classes) == 100
    assert source.coarse_classes == tuple(f"s{i:02d}" for i in range(20))
    train = source.load("train")
    assert train.labels.tolist() == list(range(10))
    assert torch.equal(train.coarse_labels, train.labels // 5)
    assert train.coarse_classes == source.coarse_classes
    assert source.describe()["coarse_classes"][0] == "s00"


def test_large_image_readers_are_refused_by_name(tmp_path: Path, data_root: Path) -> None:
    source = open_source(write_cifar(tmp_path, "cifar10"), root=data_root)
    with pytest.raises(NotImplementedError, match=r"CifarSource \(cifar10-python\) holds small"):
        source.large_stats()
    with pytest.raises(OptionError, match=r"holds no image files; use load\(\)"):
        source.samples("train")


def test_the_folder_holding_the_extracted_dataset_is_accepted(tmp_path, data_root) -> None:
    write_cifar(tmp_path / "downloads", "cifar10", archive=False)
    assert open_source(tmp_path / "downloads", root=data_root).format == "cifar10-python"


@pytest.mark.parametrize("archive", [True, False], ids=["archive", "folder"])
def test_a_missing_batch_is_named(tmp_path: Path, data_root: Path, archive: bool) -> None:
    files = cifar_files("cifar10")
    del files["data_batch_3"]
    path = write_cifar(tmp_path, "cifar10", archive=archive, files=files)
    with pytest.raises(DataError, match=r"lacks (cifar-10-batches-py/)?data_batch_3"):
        open_source(path, root=data_root)


def test_labels_out_of_range_name_file_and_key(tmp_path: Path, data_root: Path) -> None:
    files = cifar_files("cifar10")
    batch = pickle.loads(files["data_batch_2"], encoding="bytes")
    batch[b"labels"][4] = 10
    files["data_batch_2"] = pickle.dumps(batch, protocol=2)
    path = write_cifar(tmp_path, "cifar10", files=files)
    with pytest.raises(DataError, match=r"data_batch_2: key b'labels' holds label 10 at index 4"):
        open_source(path, root=data_root)


def test_coarse_labels_out_of_range_are_named(tmp_path: Path, data_root: Path) -> None:
    files = cifar_files("cifar100")
    batch = pickle.loads(files["test"], encoding="bytes")
    batch[b"coarse_labels"][0] = -1
    files["test"] = pickle.dumps(batch, protocol=2)
    with pytest.raises(DataError, match=r"test: key b'coarse_labels' holds label -1"):
        open_source(write_cifar(tmp_path, "cifar100", files=files), root=data_root)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (b"data", np.zeros((10, 100), np.uint8), r"b'data' must be a \(N, 3072\) uint8 array"),
        (b"data", np.zeros((10, 3072), np.float32), r"b'data' must be uint8; got float32"),
        (b"labels", [0, 1], r"b'labels' holds \(2,\) labels for 10 images"),
    ],
)
def test_malformed_batches_name_the_key(tmp_path, data_root, key, value, message) -> None:
    files = cifar_files("cifar10")
    batch = pickle.loads(files["test_batch"], encoding="bytes")
    batch[key] = value
    files["test_batch"] = pickle.dumps(batch, protocol=2)
    with pytest.raises(DataError, match=f"test_batch: key {message}"):
        open_source(write_cifar(tmp_path, "cifar10", files=files), root=data_root)


class Payload:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickles_that_would_run_code_are_refused(tmp_path: Path, data_root: Path) -> None:
    files = cifar_files("cifar10")
    files["batches.meta"] = pickle.dumps({b"label_names": [Payload()]}, protocol=2)
    with pytest.raises(DataError, match=r"batches.meta: not a CIFAR batch file .*refusing"):
        open_source(write_cifar(tmp_path, "cifar10", files=files), root=data_root)


def test_a_truncated_archive_is_named(tmp_path: Path, data_root: Path) -> None:
    path = write_cifar(tmp_path, "cifar10")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=str(path)):
        open_source(path, root=data_root)


def test_a_tar_of_something_else_is_refused(tmp_path: Path, data_root: Path) -> None:
    path = write_tar(tmp_path / "notes.tar", {"notes/a.txt": b"hello"})
    with pytest.raises(DataError, match=r"notes.tar: a tar archive holding no dataset"):
        open_source(path, root=data_root)
