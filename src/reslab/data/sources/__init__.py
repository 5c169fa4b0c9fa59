"""Data sources, detected from one path or name: :func:`open_source`.

A :class:`Source` (``base``) knows its format, classes and splits, and whether its images
are small (decoded once, cached, trained on from device memory) or large (streamed from
files). The kinds: :class:`CifarSource` (``cifar``, the official python archives) and
:class:`FolderSource` (``folder``, image folders); either reads its files through a
:class:`~reslab.data.sources.files.Files` (``files``: a directory or a tar archive).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reslab.data import cache
from reslab.data.cifar import LAYOUTS
from reslab.data.download import locate
from reslab.data.folder import EXPECTED, FolderIndex, index_directory, index_members
from reslab.data.sources.base import SMALL_MAX_SIDE, DataWarning, Source
from reslab.data.sources.cifar import CifarSource, cifar_layout_of_dir
from reslab.data.sources.files import DirFiles, Files, TarFiles, is_tar
from reslab.data.sources.folder import PROBE_IMAGES, STATS_IMAGES, FolderSource
from reslab.errors import DataError, closest

__all__ = [
    "FORMATS",
    "PROBE_IMAGES",
    "SMALL_MAX_SIDE",
    "STATS_IMAGES",
    "CifarSource",
    "DataWarning",
    "DirFiles",
    "Files",
    "FolderSource",
    "Source",
    "TarFiles",
    "open_source",
]

FORMATS = (
    "a CIFAR-10/100 python archive (cifar-10-python.tar.gz, cifar-100-python.tar.gz) or its "
    f"extracted folder, {EXPECTED}, a .tar/.tar.gz of such a folder, or a name "
    f"({', '.join(LAYOUTS)})"
)


def open_source(spec: str | Path, *, root: Path | None = None, skip_bad: bool = False) -> Source:
    """The data source ``spec`` names: a path (directory or archive) or ``cifar10``/``cifar100``.

    ``root``: the data root (else ``$RESLAB_DATA``, else ``~/.cache/reslab``) where named
    datasets are found or downloaded and decoded arrays are cached. ``skip_bad``: skip
    unreadable images (listed in ``Source.skipped`` and warned about) instead of failing.
    """
    root = cache.data_root(root)
    path = _resolve(spec, root)
    if path.is_dir():
        if (path / "train").is_dir():
            return FolderSource(DirFiles(path), index_directory(path), root=root, skip_bad=skip_bad)
        layout = cifar_layout_of_dir(path)
        if layout is not None:
            return CifarSource(layout, path, root=root, skip_bad=skip_bad)
        raise DataError(f"{path}: a directory in no known format; expected {FORMATS}")
    if not is_tar(path):
        raise DataError(f"{path}: a file in no known format; expected {FORMATS}")
    tar = TarFiles(path, root)
    found = tar.remember("contents.json", lambda: _tar_contents(tar), indent=None)
    layout = next((lay for lay in LAYOUTS.values() if lay.format == found["format"]), None)
    if layout is not None:
        return CifarSource(layout, path, root=root, skip_bad=skip_bad)
    if found["format"] is None:
        raise DataError(
            f"{path}: a tar archive holding no dataset in a known format; expected {FORMATS}"
        )
    index = FolderIndex(
        tuple(found["classes"]),
        {k: [(n, label) for n, label in v] for k, v in found["samples"].items()},
    )
    return FolderSource(tar, index, root=root, skip_bad=skip_bad)


def _resolve(spec: str | Path, root: Path) -> Path:
    path = Path(spec).expanduser()
    if path.exists():
        return path
    if isinstance(spec, str) and spec in LAYOUTS:
        return locate(spec, root)
    near = closest(str(spec), LAYOUTS) if isinstance(spec, str) else []
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    raise DataError(
        f"{spec}: no such file or directory, nor a dataset name ({', '.join(LAYOUTS)}){hint}"
    )


def _tar_contents(tar: TarFiles) -> dict[str, Any]:
    """What a tar holds: ``{"format"}`` (None: nothing known), and for an image folder its
    ``classes`` and ``samples``; worked out from the member list."""
    members = tar.listing()
    tops = {name.removeprefix("./").split("/")[0] for name, _, _ in members}
    layout = next((lay for lay in LAYOUTS.values() if lay.folder in tops), None)
    if layout is not None:
        return {"format": layout.format}
    index = index_members(str(tar.path), ((n, size >= 0) for n, _, size in members))
    if index:
        return {"format": "image-folder-tar", "classes": index.classes, "samples": index.samples}
    return {"format": None}
