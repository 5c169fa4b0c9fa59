"""Image folders as a :class:`Source`: ``train/<class>/*`` with ``test/<class>/*`` or
``val/<class>/*``, in a directory or a tar archive (listing: :mod:`reslab.data.folder`).

A few image headers, read at open, tell small images (decoded once into cached arrays)
from large ones (streamed from files)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reslab.data import cache
from reslab.data.decode import BadImage, decode_many, image_header, read_image
from reslab.data.folder import FolderIndex
from reslab.data.imageset import ImageSet
from reslab.data.progress import progress
from reslab.data.sources.base import SMALL_MAX_SIDE, Source
from reslab.data.sources.files import Files
from reslab.errors import DataError

PROBE_IMAGES = 32  # image headers read at open time to tell small from large
STATS_IMAGES = 1000  # large sources: channel mean/std estimated from this many train images


class FolderSource(Source):
    """``train/<class>/*`` with ``test/<class>/*`` or ``val/<class>/*``: a directory
    (``image-folder``), or a tar archive holding one (``image-folder-tar``)."""

    def __init__(self, files: Files, index: FolderIndex, *, root: Path, skip_bad: bool) -> None:
        super().__init__(root=root, skip_bad=skip_bad)
        self.files, self.path, self.index = files, files.path, index
        self.format = files.image_folder_format
        self.name = _strip_archive_suffix(self.path.name)
        self.classes, self.splits = index.classes, index.splits
        probe = files.remember("probe.json", self._probe)
        self.sizes = [tuple(s) for s in probe["sizes"]]
        self.modes = probe["modes"]
        self.small = max(max(s) for s in self.sizes) <= SMALL_MAX_SIDE

    @property
    def channels(self) -> int:
        """3, or 1 when every probed image is grayscale (large images)."""
        return 1 if all(m == "L" for m in self.modes) else 3

    def fingerprint(self) -> Any:
        files = (f for split in self.splits for f, _ in self.index.samples[split])
        # Small: decoded arrays, any change to any file counts; large: names (stat is slow).
        return self.files.fingerprint(files, stat=getattr(self, "small", True))

    # --- probing: a few headers decide small vs large -----------------------------------

    def _probe_names(self) -> list[str]:
        return self.files.probe_names(self.index.samples["train"], PROBE_IMAGES)

    def _probe(self) -> dict[str, Any]:
        sizes, modes = [], []
        for name, data in self.files.read(self._probe_names()):
            if isinstance(data, BadImage):
                continue  # decoding reports it, with the skip_bad policy
            try:
                size, mode = image_header(data, self.files.display(name))
            except BadImage:
                continue
            sizes.append(size)
            modes.append(mode)
        if not sizes:
            raise DataError(
                f"{self.path}: none of the probed training images is readable "
                f"(for example {self.files.display(self._probe_names()[0])})"
            )
        return {"sizes": sizes, "modes": modes}

    # --- small: decode every split into arrays ------------------------------------------

    def _decode_all(self) -> dict[str, tuple[ImageSet, list[list[str]]]]:
        h, w = self.sizes[0]
        show = self.files.display
        slots = {
            name: (split, i)
            for split in self.splits
            for i, (name, _) in enumerate(self.index.samples[split])
        }
        arrays = {s: np.zeros((len(self.index.samples[s]), h, w, 3), np.uint8) for s in self.splits}
        good = {s: np.ones(len(self.index.samples[s]), bool) for s in self.splits}
        bad: dict[str, list[list[str]]] = {s: [] for s in self.splits}
        gray = True
        with progress(f"decoding {self.path.name}", len(slots)) as advance:
            for chunk in _chunks(self.files.read(list(slots)), 1024):
                named = [(show(name), data) for name, data in chunk]
                for (name, _), img in zip(chunk, decode_many(named), strict=True):
                    split, i = slots[name]
                    if isinstance(img, BadImage):
                        bad[split].append([show(name), str(img)])
                        good[split][i] = False
                        continue
                    if img.shape[1:] != (h, w):
                        raise DataError(
                            f"{show(name)}: image is {img.shape[2]}x{img.shape[1]}, "
                            f"but {show(self._probe_names()[0])} is {w}x{h}; the "
                            f"images of a small-image source (sides up to {SMALL_MAX_SIDE}) "
                            "must share one size"
                        )
                    gray &= img.shape[0] == 1
                    arrays[split][i] = img.permute(1, 2, 0).numpy()  # (H, W, 1 or 3)
                advance(len(chunk))
        c = 1 if gray else 3
        decoded = {}
        for split in self.splits:
            labels = torch.tensor([label for _, label in self.index.samples[split]])
            keep = torch.from_numpy(good[split])
            images = torch.from_numpy(np.ascontiguousarray(arrays[split][good[split], :, :, :c]))
            decoded[split] = (ImageSet(images, labels[keep], self.classes), bad[split])
        return decoded

    # --- large: files on disk ----------------------------------------------------------

    def samples(self, split: str) -> list[tuple[Path, int]]:
        self.check_split(split)
        base = self.files.local()
        return [(base / name, label) for name, label in self.index.samples[split]]

    def _describe_large(self, splits: dict[str, Any]) -> dict[str, Any]:
        for split in self.splits:
            counts = [0] * len(self.classes)
            for _, label in self.index.samples[split]:
                counts[label] += 1
            splits[split] = {
                "images": sum(counts),
                "per_class": dict(zip(self.classes, counts, strict=True)),
            }
        stats = self.large_stats()
        heights, widths = zip(*self.sizes, strict=True)
        return {
            "image": {
                "size": None,
                "min_size": [min(heights), min(widths)],
                "max_size": [max(heights), max(widths)],
                "probed": len(self.sizes),
                "mode": "L" if self.channels == 1 else "RGB",
            },
            "train_channel_mean": stats["mean"],
            "train_channel_std": stats["std"],
            "stats_from": f"a sample of {stats['images']} training images",
        }

    def large_stats(self) -> dict[str, Any]:
        """Channel mean/std (in [0, 1]) estimated from up to STATS_IMAGES training images,
        every pixel weighted equally; cached."""
        path = self.cache_dir / "stats.json"
        stats = cache.read_json(path)
        if stats is not None:
            return stats
        train = self.samples("train")
        pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
        s1 = torch.zeros(self.channels, dtype=torch.float64)
        s2 = torch.zeros(self.channels, dtype=torch.float64)
        n = used = 0
        with progress("channel statistics", min(STATS_IMAGES, len(train))) as advance:
            for i in pick[:STATS_IMAGES].tolist():
                try:
                    img = read_image(train[i][0], self.channels)
                except BadImage:
                    continue
                flat = img.flatten(1).double()
                s1 += flat.sum(1)
                s2 += flat.square().sum(1)
                n += flat.shape[1]
                used += 1
                advance(1)
        if not used:
            raise DataError(
                f"{self.path}: none of {min(STATS_IMAGES, len(train))} sampled "
                "training images is readable"
            )
        mean = s1 / n
        std = (s2 / n - mean.square()).clamp_min(0).sqrt()
        stats = {"mean": (mean / 255).tolist(), "std": (std / 255).tolist(), "images": used}
        cache.write_json(path, stats)
        return stats


def _strip_archive_suffix(name: str) -> str:
    for suffix in (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _chunks(items: Iterator[Any], n: int) -> Iterator[list[Any]]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
