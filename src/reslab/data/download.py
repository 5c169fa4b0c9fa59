"""The named datasets (``cifar10``, ``cifar100``): found in the data root, else downloaded
from their canonical address and checked against the official MD5."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from reslab.data.cifar import LAYOUTS, CifarLayout
from reslab.data.progress import progress
from reslab.errors import DataError
from reslab.fileio import atomic_path

_CHUNK = 1 << 20


def locate(name: str, root: Path) -> Path:
    """The extracted folder or the archive of ``name`` under ``root``; downloads the archive
    when neither is there."""
    layout = LAYOUTS[name]
    for candidate in (root / layout.folder, root / layout.archive):
        if candidate.exists():
            return candidate
    return download(layout, root / layout.archive)


def download(layout: CifarLayout, target: Path) -> Path:
    """Fetch ``layout.url`` into ``target`` (atomically), verifying its MD5."""
    digest = hashlib.md5(usedforsecurity=False)

    def fetch(out: BinaryIO) -> None:
        with urllib.request.urlopen(layout.url, timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with progress(f"downloading {layout.archive}", total, unit="bytes") as advance:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    advance(len(chunk))
        if digest.hexdigest() != layout.md5:
            raise DataError(
                f"{layout.url}: downloaded file has MD5 {digest.hexdigest()}, expected "
                f"{layout.md5} (a damaged download; try again)"
            )

    try:
        with atomic_path(target) as tmp, tmp.open("wb") as out:
            fetch(out)
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        raise DataError(
            f"cannot download {layout.name} from {layout.url} ({reason}); download it "
            f"elsewhere and put {layout.archive} (or its extracted {layout.folder}/) in "
            f"{target.parent}, or pass its path"
        ) from None
    return target
