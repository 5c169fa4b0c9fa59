"""The official "python version" of CIFAR-10/100 as a :class:`Source`: the archive, or its
extracted folder (the batch files' format is :mod:`reslab.data.cifar`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reslab.data import cache
from reslab.data.cifar import LAYOUTS, CifarLayout, parse
from reslab.data.decode import BadImage
from reslab.data.imageset import ImageSet
from reslab.data.sources.base import Source
from reslab.data.sources.files import DirFiles, TarFiles
from reslab.errors import DataError


def cifar_layout_of_dir(path: Path) -> CifarLayout | None:
    """The official extracted folder, a folder holding it, or a renamed copy of it."""
    for layout in LAYOUTS.values():
        if (path / layout.folder).is_dir():
            return layout
    for layout in LAYOUTS.values():
        if path.name == layout.folder or (path / layout.meta).is_file():
            return layout
    return None


class CifarSource(Source):
    """The official "python version" of CIFAR-10/100: the archive or its extracted folder."""

    small = True
    splits = ("train", "test")

    def __init__(self, layout: CifarLayout, path: Path, *, root: Path, skip_bad: bool) -> None:
        super().__init__(root=root, skip_bad=skip_bad)
        self.layout, self.format, self.name = layout, layout.format, layout.name
        if (path / layout.folder).is_dir():
            path = path / layout.folder
        self.path = path
        # The batch files: in the folder itself, or in the archive's folder layout.folder.
        self.files = DirFiles(path) if path.is_dir() else TarFiles(path, root, folder=layout.folder)
        meta = cache.read_json(self.cache_dir / "train.json")
        if meta is None:  # the class names live in the pickles: decode once, now
            self._decode_and_cache()
            meta = cache.read_json(self.cache_dir / "train.json")
        self.classes = tuple(meta["classes"])
        self.coarse_classes = tuple(meta["coarse_classes"] or ()) or None

    def fingerprint(self) -> Any:
        return self.files.fingerprint(self._present())

    def _present(self) -> list[str]:
        missing = self.files.missing(self.layout.files)
        if missing:
            raise DataError(
                f"{self.path}: {self.layout.title} {self.files.noun} lacks {', '.join(missing)}"
            )
        return list(self.layout.files)

    def _decode_all(self) -> dict[str, tuple[ImageSet, list[list[str]]]]:
        files = {}
        for name, data in self.files.read(self._present()):
            if isinstance(data, BadImage):
                raise DataError(str(data))
            files[name] = data
        return {split: (s, []) for split, s in parse(self.layout, files, str(self.path)).items()}
