"""The names cifar10 / cifar100: found in the data root, else downloaded and checked."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from reslab.data import open_source
from reslab.data.cifar import LAYOUTS
from reslab.errors import DataError

from .conftest import write_cifar


def _serve(monkeypatch, name: str, archive: Path, md5: str | None = None) -> None:
    """Point the dataset's canonical address at a local file (no network in tests)."""
    md5 = md5 or hashlib.md5(archive.read_bytes()).hexdigest()
    layout = dataclasses.replace(LAYOUTS[name], url=archive.as_uri(), md5=md5)
    monkeypatch.setitem(LAYOUTS, name, layout)


@pytest.mark.parametrize("archive", [True, False], ids=["archive", "folder"])
def test_a_name_finds_the_dataset_in_the_root(tmp_path: Path, archive: bool) -> None:
    write_cifar(tmp_path, "cifar100", archive=archive)
    source = open_source("cifar100", root=tmp_path)
    assert source.format == "cifar100-python" and len(source.load("test")) == 10


def test_a_name_downloads_once_and_checks_the_md5(tmp_path: Path, monkeypatch) -> None:
    _serve(monkeypatch, "cifar10", write_cifar(tmp_path / "server", "cifar10"))
    root = tmp_path / "root"
    source = open_source("cifar10", root=root)
    assert source.path == root / "cifar-10-python.tar.gz" and len(source.load("train")) == 50
    monkeypatch.setitem(LAYOUTS, "cifar10", dataclasses.replace(LAYOUTS["cifar10"], url="x:"))
    assert open_source("cifar10", root=root).path == source.path  # no second download


def test_a_damaged_download_is_refused_and_removed(tmp_path: Path, monkeypatch) -> None:
    _serve(monkeypatch, "cifar10", write_cifar(tmp_path / "server", "cifar10"), md5="0" * 32)
    root = tmp_path / "root"
    with pytest.raises(DataError, match=r"has MD5 [0-9a-f]{32}, expected 0{32}"):
        open_source("cifar10", root=root)
    assert list(root.iterdir()) == []


def test_offline_names_the_url_and_where_to_put_the_file(tmp_path: Path, monkeypatch) -> None:
    unreachable = "http://127.0.0.1:9/cifar-10-python.tar.gz"  # the discard port: refused
    monkeypatch.setitem(
        LAYOUTS, "cifar10", dataclasses.replace(LAYOUTS["cifar10"], url=unreachable)
    )
    with pytest.raises(DataError) as err:
        open_source("cifar10", root=tmp_path / "root")
    message = str(err.value)
    assert f"cannot download cifar10 from {unreachable}" in message
    where = f"(or its extracted cifar-10-batches-py/) in {tmp_path / 'root'}, or pass its path"
    assert f"put cifar-10-python.tar.gz {where}" in message


def test_the_canonical_addresses() -> None:
    assert LAYOUTS["cifar10"].url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert LAYOUTS["cifar100"].md5 == "eb9058c3a382ffc7106e4002c42a8d85"
