"""The ground floor for files: atomic writes of bytes, text and JSON, and JSON reads that
name the file when it is wrong. No torch here: every room, and ``import reslab``, can use it.

An atomic write leaves ``path`` holding either the old or the new content, never a torn
file: a temporary file in the same directory, fsync, rename over the target, fsync the
directory (POSIX rename is atomic within one file system).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reslab.errors import DiskFullError, ReslabError

TMP_PATTERN = re.compile(r"^\..+\.[A-Za-z0-9_]+\.tmp$")  # atomic_path's temporary names


@contextmanager
def atomic_path(path: str | Path, *, keep_previous: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; on success it replaces ``path``.

    If the body raises, the temporary file is removed and ``path`` is untouched; a full disk
    is a :class:`DiskFullError` naming ``path``. ``keep_previous``: the old file becomes
    :func:`previous_path` (``latest.pt`` -> ``latest.prev.pt``), so that one damaged file
    never costs a run.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise _disk_full(err, path) from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(0o666 & ~_umask())  # mkstemp makes it 0600; give it an ordinary file's mode
        _fsync(tmp)
        if keep_previous and path.is_file():
            _rotate(path)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _disk_full(err, path) from None
        raise
    _fsync(path.parent)


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | Path, obj: Any, *, indent: int | None = 2) -> Path:
    """``obj`` as JSON with a final newline (``json.dumps`` rules: NaN stays ``NaN``; use
    :func:`reslab.jsonio.dumps` and :func:`write_text` where readers need strict JSON)."""
    return write_text(path, json.dumps(obj, indent=indent) + "\n")


def read_json(path: str | Path, *, required: bool = True) -> dict[str, Any] | None:
    """The JSON object in ``path``; a :class:`ReslabError` naming the file when it is not
    valid JSON or not an object, or when it is missing and ``required`` (else None)."""
    path = Path(path)
    if not path.is_file():
        if required:
            raise ReslabError(f"{path}: missing")
        return None
    try:
        value = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise ReslabError(f"{path}: not a text file (expected JSON)") from None
    except json.JSONDecodeError as err:
        raise ReslabError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None
    if not isinstance(value, dict):
        raise ReslabError(f"{path}: expected a JSON object")
    return value


def previous_path(path: str | Path) -> Path:
    """``checkpoints/latest.prev.pt`` for ``checkpoints/latest.pt``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files that writers killed inside :func:`atomic_path` left in
    ``folder``; only safe while no other process writes there (the run's lock)."""
    removed = []
    for path in folder.iterdir() if folder.is_dir() else ():
        if path.is_file() and TMP_PATTERN.match(path.name):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _rotate(path: Path) -> None:
    """``path`` -> ``previous_path(path)`` while ``path`` stays in place: a hard link
    renamed over the previous file, so that a kill at any moment leaves both names."""
    prev = previous_path(path)
    link = prev.with_name(f".{prev.name}.link.tmp")
    link.unlink(missing_ok=True)
    try:
        os.link(path, link)
    except OSError:  # a file system without hard links
        shutil.copyfile(path, link)
        _fsync(link)
    os.replace(link, prev)


def _disk_full(err: OSError, path: Path) -> OSError | ReslabError:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "checkpoint" if path.suffix == ".pt" else "version"
        return DiskFullError(
            f"no space left on device while writing {path}; the previous {what} is intact "
            "(free some space, then continue)"
        )
    return err


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
