"""Image folders: ``train/<class>/<image>`` with ``test/<class>/`` or ``val/<class>/``, as a
directory or inside a tar archive; listing and checking, before any pixel is read."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from reslab.errors import DataError

SPLIT_NAMES = ("train", "val", "test")
EXPECTED = "an image folder train/<class>/<image> with test/<class>/ or val/<class>/"


@dataclass(frozen=True)
class FolderIndex:
    """Classes (sorted) and, per split, ``(file, label)`` in class then file-name order.

    ``file`` is a path relative to the folder (directories) or a member name (tars).
    """

    classes: tuple[str, ...]
    samples: dict[str, list[tuple[str, int]]]

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.samples)


def hidden(name: str) -> bool:
    """Dot files and macOS resource folders are not images."""
    return name.startswith(".") or name == "__MACOSX"


def index_directory(path: Path) -> FolderIndex:
    """List ``path``; raises :class:`DataError` for an empty class or mismatched classes."""
    tree: dict[str, dict[str, list[str]]] = {}
    for split in SPLIT_NAMES:
        if not (path / split).is_dir():
            continue
        tree[split] = {}
        for entry in sorted(os.scandir(path / split), key=lambda e: e.name):
            if entry.is_dir() and not hidden(entry.name):
                tree[split][entry.name] = _files_under(Path(entry.path), path)
    return build_index(str(path), tree)


def _files_under(folder: Path, base: Path) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not hidden(d)]
        rel = Path(dirpath).relative_to(base).as_posix()
        found += [f"{rel}/{f}" for f in filenames if not hidden(f)]
    return sorted(found)


def index_members(where: str, names: Iterable[tuple[str, bool]]) -> FolderIndex | None:
    """The image folder inside a tar, from its ``(member name, is_file)``; None when the
    archive holds no ``train/<class>/`` folder."""
    entries = []
    for name, is_file in names:
        parts = tuple(p for p in name.split("/") if p not in ("", "."))
        if not any(p[0] == "." or p == "__MACOSX" for p in parts):  # hidden(), inlined: hot
            entries.append((name, parts, is_file))
    roots = {
        parts[: parts.index("train")]
        for _, parts, is_file in entries
        if is_file and "train" in parts and len(parts) - parts.index("train") >= 3
    }
    if not roots:
        return None
    if len(roots) > 1:
        shown = ", ".join(sorted("/".join(r) or "." for r in roots))
        raise DataError(f"{where}: holds several image folders ({shown}); expected one")
    (root,) = roots
    n = len(root)
    tree: dict[str, dict[str, list[str]]] = {}
    for name, parts, is_file in entries:
        if parts[:n] != root or len(parts) < n + 2 or parts[n] not in SPLIT_NAMES:
            continue
        if is_file and len(parts) == n + 2:
            continue  # a file right inside the split folder is no class
        files = tree.setdefault(parts[n], {}).setdefault(parts[n + 1], [])
        if is_file:
            files.append(name)
    for classes in tree.values():
        for files in classes.values():
            files.sort()
    split_root = "/".join(root)
    return build_index(
        f"{where}:{split_root}" if split_root else where,
        {s: tree[s] for s in SPLIT_NAMES if s in tree},
    )


def build_index(where: str, tree: dict[str, dict[str, list[str]]]) -> FolderIndex:
    """Check a split -> class -> files tree and number its classes."""
    if "train" not in tree or not ({"val", "test"} & tree.keys()):
        raise DataError(f"{where}: not {EXPECTED} (found {', '.join(tree) or 'neither'})")
    for split, classes in tree.items():
        if not classes:
            raise DataError(
                f"{where}/{split}: holds no class folders; expected {split}/<class>/<image>"
            )
        for cls, files in classes.items():
            if not files:
                raise DataError(f"{where}/{split}/{cls}: empty class folder (no images)")
    names = sorted(tree["train"])
    for split, classes in tree.items():
        if sorted(classes) != names:
            only_train = sorted(set(names) - set(classes))
            only_here = sorted(set(classes) - set(names))
            raise DataError(
                f"{where}: train and {split} have different classes "
                f"(only in train: {', '.join(only_train) or '-'}; "
                f"only in {split}: {', '.join(only_here) or '-'})"
            )
    samples = {
        split: [(f, label) for label, cls in enumerate(names) for f in classes[cls]]
        for split, classes in tree.items()
    }
    return FolderIndex(tuple(names), samples)
