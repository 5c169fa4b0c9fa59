"""Files: a directory and a tar archive of the same files read, name and miss them alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from reslab.data import open_source
from reslab.data.decode import BadImage
from reslab.data.sources import DirFiles, TarFiles

from .conftest import cifar_files, write_tar

CONTENTS = {"set/a/1.bin": b"one", "set/a/2.bin": b"two", "set/b/3.bin": b"three"}


@pytest.fixture
def both(tmp_path: Path) -> tuple[DirFiles, TarFiles]:
    for name, data in CONTENTS.items():
        (tmp_path / "dir" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "dir" / name).write_bytes(data)
    # Members written as "./set/...", as `tar -C dir .` does: names still resolve without it.
    tar = write_tar(tmp_path / "set.tar.gz", {f"./{n}": d for n, d in CONTENTS.items()})
    return DirFiles(tmp_path / "dir" / "set"), TarFiles(tar, tmp_path / "root", folder="set")


def test_a_directory_and_a_tar_read_the_same_bytes(both) -> None:
    names = ["b/3.bin", "a/1.bin", "a/2.bin"]
    for files in both:
        assert dict(files.read(names)) == {n: CONTENTS[f"set/{n}"] for n in names}
    folder, tar = both
    assert folder.missing([*names, "a/9.bin"]) == ["a/9.bin"]
    assert tar.missing([*names, "a/9.bin"]) == ["set/a/9.bin"]  # as the archive names it
    assert folder.display("a/1.bin") == str(folder.path / "a/1.bin")
    assert tar.display("a/1.bin") == f"{tar.path}:set/a/1.bin"
    assert (tar.local() / "set/b/3.bin").read_bytes() == b"three"


def test_an_unreadable_file_of_a_directory_is_a_bad_image(both) -> None:
    folder, _ = both
    ((name, data),) = folder.read(["a/missing.bin"])
    assert name == "a/missing.bin" and isinstance(data, BadImage)
    assert "a/missing.bin: cannot read the file" in str(data)


def test_a_cifar_archive_with_dot_slash_members_opens(tmp_path: Path, data_root: Path) -> None:
    files = {f"./cifar-10-batches-py/{f}": d for f, d in cifar_files("cifar10").items()}
    source = open_source(write_tar(tmp_path / "cifar-10-python.tar.gz", files), root=data_root)
    assert source.format == "cifar10-python" and len(source.load("train")) == 50
