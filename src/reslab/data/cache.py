"""The data root, and the on-disk cache of decoded arrays keyed by a source's fingerprint.

Layout under the data root (``--root``, else ``$RESLAB_DATA``, else ``~/.cache/reslab``)::

    cifar-10-python.tar.gz          downloaded archives (names cifar10, cifar100)
    cache/<name>-<fingerprint>/     one folder per source
        members.json, contents.json tars: the member list and the dataset found in it
        probe.json, stats.json      image sizes seen at open; large sources' channel stats
        extracted/                  a large-image tar's files, for random access
        <split>.images.npy          uint8 (N, H, W, C), small-image sources only
        <split>.labels.npy          int64 (N,)
        <split>.json                classes, skipped files, channel mean/std

Every file is written through :func:`reslab.fileio.atomic_path`, so a crash or a
concurrent process never leaves a torn entry; a reader sees a complete file or none.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from reslab import fileio
from reslab.fileio import atomic_path

CACHE_VERSION = 1  # part of every key: bump when the decoded layout changes


def data_root(root: str | Path | None = None) -> Path:
    """``root``, else ``$RESLAB_DATA``, else ``~/.cache/reslab``."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("RESLAB_DATA"):
        return Path(os.environ["RESLAB_DATA"]).expanduser()
    return Path.home() / ".cache" / "reslab"


def file_fingerprint(path: Path) -> list[Any]:
    """Identity of a file without reading it: where it is, its size and modification time."""
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def tree_fingerprint(path: Path, files: Iterable[Path]) -> list[Any]:
    """Identity of a folder: every file's relative name, size and modification time."""
    entries = []
    for f in files:
        st = f.stat()
        entries.append([f.relative_to(path).as_posix(), st.st_size, st.st_mtime_ns])
    return [str(path.resolve()), entries]


def cache_key(name: str, fingerprint: Any, **options: Any) -> str:
    """A folder name: readable ``name``, then a digest of the fingerprint and options."""
    blob = json.dumps([CACHE_VERSION, fingerprint, options], sort_keys=True)
    return f"{name}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def write_json(path: Path, obj: Any, indent: int | None = 1) -> None:
    fileio.write_json(path, obj, indent=indent)


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``, or None when it is absent or unreadable (a stale cache entry)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_array(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as f:  # a file: np.save(path) adds ".npy"
        np.save(f, array, allow_pickle=False)


def read_array(path: Path) -> np.ndarray | None:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
