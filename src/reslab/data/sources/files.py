"""Where a source's files live: :class:`DirFiles` (a directory) or :class:`TarFiles` (a
``.tar``/``.tar.gz``, read in place). Sources read, name and fingerprint their files
through one of these, whichever container holds them."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from reslab.data import cache
from reslab.data.decode import BadImage
from reslab.data.progress import progress
from reslab.errors import DataError


class Files(ABC):
    """The files of a dataset, named relative to its container."""

    path: Path
    noun: str  # how messages name the container: "folder" or "archive"
    image_folder_format: str  # Source.format of an image folder held this way

    @abstractmethod
    def display(self, name: str) -> str:
        """How errors name a file: its path, or ``archive:member``."""

    @abstractmethod
    def missing(self, names: Iterable[str]) -> list[str]:
        """Those of ``names`` that are absent, as the container names them."""

    @abstractmethod
    def read(self, names: list[str]) -> Iterator[tuple[str, bytes | BadImage]]:
        """``(name, bytes)`` of each file (a :class:`BadImage` for a file that cannot be
        read), in the order cheapest for the container."""

    @abstractmethod
    def fingerprint(self, names: Iterable[str], *, stat: bool = True) -> Any:
        """The identity of these files for the cache key; ``stat=False``: names only, where
        statting every file would be slow (large-image folders)."""

    @abstractmethod
    def probe_names(self, samples: list[tuple[str, int]], n: int) -> list[str]:
        """At most ``n`` names of ``(name, label)`` samples that are cheap to reach."""

    @abstractmethod
    def remember(self, file: str, compute: Callable[[], Any], *, indent: int | None = 1) -> Any:
        """``compute()``, cached as JSON ``file`` where reading the container is slow."""

    @abstractmethod
    def local(self) -> Path:
        """A directory holding the files under their names, for random access."""


class DirFiles(Files):
    """The files of a directory, by their paths relative to it."""

    noun = "folder"
    image_folder_format = "image-folder"

    def __init__(self, path: Path) -> None:
        self.path = path

    def display(self, name: str) -> str:
        return str(self.path / name)

    def missing(self, names: Iterable[str]) -> list[str]:
        return [f for f in names if not (self.path / f).is_file()]

    def read(self, names: list[str]) -> Iterator[tuple[str, bytes | BadImage]]:
        for name in names:
            try:
                data = (self.path / name).read_bytes()
            except OSError as err:
                data = BadImage(f"{self.path / name}: cannot read the file ({err.strerror or err})")
            yield name, data

    def fingerprint(self, names: Iterable[str], *, stat: bool = True) -> Any:
        if stat:  # decoded arrays: any change to any file counts
            return cache.tree_fingerprint(self.path, (self.path / f for f in names))
        return [str(self.path.resolve()), list(names)]

    def probe_names(self, samples: list[tuple[str, int]], n: int) -> list[str]:
        """The first image of each class."""
        first: dict[int, str] = {}
        for name, label in samples:
            first.setdefault(label, name)
        return list(first.values())[:n]

    def remember(self, file: str, compute: Callable[[], Any], *, indent: int | None = 1) -> Any:
        return compute()  # a few files of a folder are quick to read again

    def local(self) -> Path:
        return self.path


class TarFiles(Files):
    """Members of a tar archive, read by offset from its decompressed stream; ``folder``:
    the folder inside the archive that names are relative to ("" for the top)."""

    noun = "archive"
    image_folder_format = "image-folder-tar"

    def __init__(self, path: Path, root: Path, *, folder: str = "") -> None:
        self.path, self.root, self.prefix = path, root, f"{folder}/" if folder else ""

    @cached_property
    def cache_dir(self) -> Path:
        """The archive's folder under the data root (the same as its source's)."""
        return self.root / "cache" / cache.cache_key(self.path.name, self.fingerprint(()))

    def listing(self) -> list[tuple[str, int, int]]:
        """``(name, data offset, size)`` of every file member (size -1 for folders); listed
        once (one pass through the archive) and cached."""
        index = self.cache_dir / "members.json"
        members = cache.read_json(index)
        if members is None:
            with open_tar(self.path) as tar:
                members = [
                    (m.name, m.offset_data, m.size if m.isfile() else -1)
                    for m in _members(tar, self.path)
                    if m.isfile() or m.isdir()
                ]
            cache.write_json(index, members, indent=None)
        return [(name, offset, size) for name, offset, size in members]

    @cached_property
    def members(self) -> dict[str, tuple[int, int]]:
        """Member name -> (data offset, size)."""
        return {name: (offset, size) for name, offset, size in self.listing()}

    def _member(self, name: str) -> tuple[int, int] | None:
        full = self.prefix + name
        return self.members.get(full) or self.members.get(f"./{full}")

    def display(self, name: str) -> str:
        return f"{self.path}:{self.prefix}{name}"

    def missing(self, names: Iterable[str]) -> list[str]:
        return [self.prefix + f for f in names if self._member(f) is None]

    def read(self, names: list[str]) -> Iterator[tuple[str, bytes | BadImage]]:
        """In archive order, so that a compressed tar is read once."""
        with open_tar(self.path) as tar:
            stream = tar.fileobj  # decompressed bytes; seeking forward reads on
            for name in sorted(names, key=lambda n: self._member(n)[0]):
                offset, size = self._member(name)
                try:
                    stream.seek(offset)
                    data = stream.read(size)
                except (OSError, EOFError) as err:
                    raise DataError(f"{self.path}: truncated or damaged archive ({err})") from None
                if len(data) != size:
                    raise DataError(f"{self.path}: truncated archive (member {name} is cut off)")
                yield name, data

    def fingerprint(self, names: Iterable[str], *, stat: bool = True) -> Any:
        return cache.file_fingerprint(self.path)  # one file: its own identity covers all

    def probe_names(self, samples: list[tuple[str, int]], n: int) -> list[str]:
        """The first images in the archive."""
        return sorted((name for name, _ in samples), key=lambda n: self._member(n)[0])[:n]

    def remember(self, file: str, compute: Callable[[], Any], *, indent: int | None = 1) -> Any:
        """Cached: reading a compressed tar means decompressing it."""
        path = self.cache_dir / file
        found = cache.read_json(path)
        if found is None:
            found = compute()
            cache.write_json(path, found, indent=indent)
        return found

    def local(self) -> Path:
        """The archive's contents under the cache (extracted once)."""
        target = self.cache_dir / "extracted"
        if target.is_dir():
            return target
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".extracting.", dir=self.cache_dir))
        try:
            with open_tar(self.path) as tar, progress(f"extracting {self.path.name}", None) as adv:
                for member in _members(tar, self.path):
                    if member.isfile() or member.isdir():
                        _extract(tar, member, tmp)
                        adv(1)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target


def is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path)
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataError(f"{path}: not a readable tar archive ({err})") from None


def _members(tar: tarfile.TarFile, path: Path) -> Iterator[tarfile.TarInfo]:
    """The members of ``tar``; a truncated or damaged archive is a :class:`DataError`."""
    try:
        yield from tar
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise DataError(f"{path}: truncated or damaged tar archive ({err})") from None


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    if hasattr(tarfile, "data_filter"):  # refuses absolute paths, links outside, devices
        tar.extract(member, dest, filter="data")
    else:  # Python < 3.10.12
        tar.extract(member, dest)
