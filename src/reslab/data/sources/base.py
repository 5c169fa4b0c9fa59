"""The common interface of data sources, and the cache of small-image sources' decoded splits.

A :class:`Source` knows its format, classes and splits, and whether its images are small
(CIFAR-sized: decoded once into arrays, cached on disk, trained on from device memory) or
large (ImageNet-style: streamed from files by worker processes).
"""

from __future__ import annotations

import warnings
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from reslab.data import cache
from reslab.data.imageset import ImageSet
from reslab.data.normalization import channel_stats
from reslab.errors import DataError, OptionError

# Images whose sides are all at most this go through the in-memory device path (CIFAR 32,
# Tiny ImageNet 64); larger ones stream from files.
SMALL_MAX_SIDE = 64


class DataWarning(UserWarning):
    """Data that was used with a caveat (skipped unreadable images)."""


class Source:
    """A dataset on disk. Subclasses fill in the attributes and the readers.

    Small-image sources implement ``_decode_all`` (their splits, decoded once and cached
    here); large-image sources ``samples``, ``large_stats`` and ``_describe_large``.
    """

    format: str  # "cifar10-python", "cifar100-python", "image-folder", "image-folder-tar"
    path: Path
    name: str  # "cifar10", or the folder's / archive's name without suffix
    classes: tuple[str, ...]
    coarse_classes: tuple[str, ...] | None = None  # CIFAR-100's 20 superclasses
    splits: tuple[str, ...]
    small: bool

    def __init__(self, *, root: Path, skip_bad: bool) -> None:
        self.root = root
        self.skip_bad = skip_bad
        self.skipped: list[str] = []  # files skipped under skip_bad (for the run's metadata)
        self._warned: set[str] = set()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.format} {self.path}>"

    @property
    def test_split(self) -> str:
        """The held-out split: "test", else "val"."""
        return "test" if "test" in self.splits else "val"

    def check_split(self, split: str) -> None:
        if split not in self.splits:
            raise OptionError(
                f"{self.path} has no split {split!r}; it has {', '.join(self.splits)}"
            )

    @cached_property
    def cache_dir(self) -> Path:
        """``<root>/cache/<name>-<fingerprint>``: this source's decoded arrays and index."""
        return self.root / "cache" / cache.cache_key(self.path.name, self.fingerprint())

    def fingerprint(self) -> Any:
        return cache.file_fingerprint(self.path)

    # --- small images: decoded once, cached ------------------------------------------

    def load(self, split: str) -> ImageSet:
        """The decoded images of ``split`` (small-image sources only), from the cache when
        it holds them, else decoded once (all splits) and cached."""
        self.check_split(split)
        if not self.small:
            raise OptionError(
                f"{self.path} holds large images; they stream from files "
                "(samples(), StreamingLoader), not from memory"
            )
        entry = self._read_split(split)
        if entry is None:
            self._decode_and_cache()
            entry = self._read_split(split)
            assert entry is not None, "a split just written must read back"
        images, meta = entry
        self.report_bad(meta["bad"])
        return images

    def _split_meta(self, split: str) -> dict[str, Any]:
        """The cached facts of a decoded split (classes, channel mean/std, bad files)."""
        meta = cache.read_json(self.cache_dir / f"{split}.json")
        if meta is None:
            self.load(split)
            meta = cache.read_json(self.cache_dir / f"{split}.json")
        return meta

    def _decode_all(self) -> dict[str, tuple[ImageSet, list[list[str]]]]:
        """Every split decoded: ``{split: (images, [[file, message], ...] of bad files)}``."""
        raise NotImplementedError(f"{type(self).__name__} ({self.format}) decodes no images")

    def _decode_and_cache(self) -> None:
        for split, (images, bad) in self._decode_all().items():
            self._write_split(split, images, bad)

    def _write_split(self, split: str, s: ImageSet, bad: list[list[str]]) -> None:
        d = self.cache_dir
        cache.write_array(d / f"{split}.images.npy", s.images.numpy())
        cache.write_array(d / f"{split}.labels.npy", s.labels.numpy())
        if s.coarse_labels is not None:
            cache.write_array(d / f"{split}.coarse_labels.npy", s.coarse_labels.numpy())
        mean, std = channel_stats(s.images) if len(s) else ([], [])
        meta = {
            "source": str(self.path),
            "classes": list(s.classes),
            "coarse_classes": list(s.coarse_classes) if s.coarse_classes else None,
            "images": len(s),
            "size": list(s.size),
            "channels": s.channels,
            "channel_mean": mean,
            "channel_std": std,
            "bad": bad,
        }
        cache.write_json(d / f"{split}.json", meta)  # last: marks a complete entry

    def _read_split(self, split: str) -> tuple[ImageSet, dict[str, Any]] | None:
        d = self.cache_dir
        meta = cache.read_json(d / f"{split}.json")
        if meta is None:
            return None
        images = cache.read_array(d / f"{split}.images.npy")
        labels = cache.read_array(d / f"{split}.labels.npy")
        coarse = None
        if meta["coarse_classes"]:
            coarse = cache.read_array(d / f"{split}.coarse_labels.npy")
            if coarse is None:
                return None
            coarse = torch.from_numpy(coarse)
        if images is None or labels is None or len(images) != meta["images"]:
            return None
        s = ImageSet(
            torch.from_numpy(images),
            torch.from_numpy(labels),
            tuple(meta["classes"]),
            coarse,
            tuple(meta["coarse_classes"] or ()) or None,
        )
        return s, meta

    def report_bad(self, bad: list[list[str]]) -> None:
        """Fail on unreadable images ``[[file, message], ...]``, or (``skip_bad``) record
        them in ``skipped`` and warn about each once."""
        if not bad:
            return
        if not self.skip_bad:
            more = f" (and {len(bad) - 1} more unreadable images)" if len(bad) > 1 else ""
            raise DataError(
                f"{bad[0][1]}{more}; pass --skip-bad (data.skip_bad) to skip unreadable images"
            )
        new = [(f, m) for f, m in bad if f not in self._warned]
        if new:
            self._warned.update(f for f, _ in new)
            self.skipped.extend(f for f, _ in new)
            n = len(new)
            warnings.warn(
                f"skipped {n} unreadable image{'s' * (n > 1)} of {self.path} (first: {new[0][1]})",
                DataWarning,
                stacklevel=3,
            )

    # --- large images: (file, label) samples ------------------------------------------

    def samples(self, split: str) -> list[tuple[Path, int]]:
        """``(image file, label)`` of every image of ``split``, in class then name order."""
        raise OptionError(f"{self.path} ({self.format}) holds no image files; use load()")

    def large_stats(self) -> dict[str, Any]:
        """Large images: ``{"mean", "std"}`` per channel (in [0, 1]) and the number of
        ``images`` they were estimated from."""
        raise NotImplementedError(
            f"{type(self).__name__} ({self.format}) holds small images; their statistics "
            "come from load()"
        )

    # --- inspection -------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """What ``reslab data inspect --json`` prints: format, classes, counts per split and
        class, image size and mode, channel mean/std of the training split."""
        info: dict[str, Any] = {
            "source": str(self.path),
            "name": self.name,
            "format": self.format,
            "small": self.small,
            "classes": list(self.classes),
            "num_classes": len(self.classes),
            "splits": {},
            "test_split": self.test_split,
        }
        if self.coarse_classes:
            info["coarse_classes"] = list(self.coarse_classes)
        if self.small:
            info.update(self._describe_small(info["splits"]))
        else:
            info.update(self._describe_large(info["splits"]))
        info["skipped"] = list(self.skipped)
        return info

    def _describe_small(self, splits: dict[str, Any]) -> dict[str, Any]:
        for split in self.splits:
            s = self.load(split)
            splits[split] = {
                "images": len(s),
                "per_class": dict(zip(self.classes, s.counts(), strict=True)),
            }
        meta = self._split_meta("train")
        return {
            "image": {"size": meta["size"], "mode": "L" if meta["channels"] == 1 else "RGB"},
            "train_channel_mean": meta["channel_mean"],
            "train_channel_std": meta["channel_std"],
            "stats_from": f"all {meta['images']} training images",
        }

    def _describe_large(self, splits: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} ({self.format}) has no large images")
