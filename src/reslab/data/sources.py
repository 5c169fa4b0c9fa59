"""Data sources, detected from one path or name: :func:`open_source`.

A :class:`Source` knows its format, classes and splits, and whether its images are small
(CIFAR-sized: decoded once into arrays, cached on disk, trained on from device memory) or
large (ImageNet-style: streamed from files by worker processes).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import warnings
import zlib
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reslab.data import cache
from reslab.data.cifar import LAYOUTS, CifarLayout, parse
from reslab.data.decode import BadImage, decode_many, image_header, read_image
from reslab.data.download import locate
from reslab.data.folder import EXPECTED, FolderIndex, index_directory, index_members
from reslab.data.imageset import ImageSet
from reslab.data.normalization import channel_stats
from reslab.data.progress import progress
from reslab.errors import DataError, OptionError, closest

# Images whose sides are all at most this go through the in-memory device path (CIFAR 32,
# Tiny ImageNet 64); larger ones stream from files.
SMALL_MAX_SIDE = 64
PROBE_IMAGES = 32  # image headers read at open time to tell small from large
STATS_IMAGES = 1000  # large sources: channel mean/std estimated from this many train images
FORMATS = (
    "a CIFAR-10/100 python archive (cifar-10-python.tar.gz, cifar-100-python.tar.gz) or its "
    f"extracted folder, {EXPECTED}, a .tar/.tar.gz of such a folder, or a name "
    f"({', '.join(LAYOUTS)})"
)


class DataWarning(UserWarning):
    """Data that was used with a caveat (skipped unreadable images)."""


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
            return FolderSource(path, index_directory(path), root=root, skip_bad=skip_bad)
        layout = _cifar_layout_of_dir(path)
        if layout is not None:
            return CifarSource(layout, path, root=root, skip_bad=skip_bad)
        raise DataError(f"{path}: a directory in no known format; expected {FORMATS}")
    if not _is_tar(path):
        raise DataError(f"{path}: a file in no known format; expected {FORMATS}")
    found = _tar_contents(path, root)
    layout = next((lay for lay in LAYOUTS.values() if lay.format == found["format"]), None)
    if layout is not None:
        return CifarSource(layout, path, root=root, skip_bad=skip_bad)
    if found["format"] is None:
        raise DataError(f"{path}: a tar archive holding no dataset in a known format; "
                        f"expected {FORMATS}")  # fmt: skip
    index = FolderIndex(
        tuple(found["classes"]),
        {k: [(n, label) for n, label in v] for k, v in found["samples"].items()},
    )
    return FolderSource(path, index, root=root, skip_bad=skip_bad, is_tar=True)


def _resolve(spec: str | Path, root: Path) -> Path:
    path = Path(spec).expanduser()
    if path.exists():
        return path
    if isinstance(spec, str) and spec in LAYOUTS:
        return locate(spec, root)
    near = closest(str(spec), LAYOUTS) if isinstance(spec, str) else []
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    raise DataError(f"{spec}: no such file or directory, nor a dataset name "
                    f"({', '.join(LAYOUTS)}){hint}")  # fmt: skip


# --- the common interface ----------------------------------------------------------------


class Source:
    """A dataset on disk. Subclasses fill in the attributes and the readers."""

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
            raise OptionError(f"{self.path} has no split {split!r}; it has "
                              f"{', '.join(self.splits)}")  # fmt: skip

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
            raise OptionError(f"{self.path} holds large images; they stream from files "
                              "(samples(), StreamingLoader), not from memory")  # fmt: skip
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
        raise NotImplementedError

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
        meta = {"source": str(self.path), "classes": list(s.classes),
                "coarse_classes": list(s.coarse_classes) if s.coarse_classes else None,
                "images": len(s), "size": list(s.size), "channels": s.channels,
                "channel_mean": mean, "channel_std": std, "bad": bad}  # fmt: skip
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
        s = ImageSet(torch.from_numpy(images), torch.from_numpy(labels), tuple(meta["classes"]),
                     coarse, tuple(meta["coarse_classes"] or ()) or None)  # fmt: skip
        return s, meta

    def report_bad(self, bad: list[list[str]]) -> None:
        """Fail on unreadable images ``[[file, message], ...]``, or (``skip_bad``) record
        them in ``skipped`` and warn about each once."""
        if not bad:
            return
        if not self.skip_bad:
            more = f" (and {len(bad) - 1} more unreadable images)" if len(bad) > 1 else ""
            raise DataError(f"{bad[0][1]}{more}; pass --skip-bad (data.skip_bad) to skip "
                            "unreadable images")  # fmt: skip
        new = [(f, m) for f, m in bad if f not in self._warned]
        if new:
            self._warned.update(f for f, _ in new)
            self.skipped.extend(f for f, _ in new)
            n = len(new)
            warnings.warn(f"skipped {n} unreadable image{'s' * (n > 1)} of {self.path} "
                          f"(first: {new[0][1]})", DataWarning, stacklevel=3)  # fmt: skip

    # --- large images: (file, label) samples ------------------------------------------

    def samples(self, split: str) -> list[tuple[Path, int]]:
        """``(image file, label)`` of every image of ``split``, in class then name order."""
        raise OptionError(f"{self.path} ({self.format}) holds no image files; use load()")

    # --- inspection -------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """What ``reslab data inspect --json`` prints: format, classes, counts per split and
        class, image size and mode, channel mean/std of the training split."""
        info: dict[str, Any] = {
            "source": str(self.path), "name": self.name, "format": self.format,
            "small": self.small, "classes": list(self.classes), "num_classes": len(self.classes),
            "splits": {}, "test_split": self.test_split,
        }  # fmt: skip
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
            splits[split] = {"images": len(s), "per_class": dict(zip(self.classes, s.counts(),
                                                                       strict=True))}  # fmt: skip
        meta = self._split_meta("train")
        return {
            "image": {"size": meta["size"], "mode": "L" if meta["channels"] == 1 else "RGB"},
            "train_channel_mean": meta["channel_mean"], "train_channel_std": meta["channel_std"],
            "stats_from": f"all {meta['images']} training images",
        }  # fmt: skip

    def _describe_large(self, splits: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


# --- CIFAR python --------------------------------------------------------------------------


def _cifar_layout_of_dir(path: Path) -> CifarLayout | None:
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
        meta = cache.read_json(self.cache_dir / "train.json")
        if meta is None:  # the class names live in the pickles: decode once, now
            self._decode_and_cache()
            meta = cache.read_json(self.cache_dir / "train.json")
        self.classes = tuple(meta["classes"])
        self.coarse_classes = tuple(meta["coarse_classes"] or ()) or None

    def fingerprint(self) -> Any:
        if self.path.is_dir():
            return cache.tree_fingerprint(self.path, [self.path / f for f in self._present()])
        return cache.file_fingerprint(self.path)

    def _present(self) -> list[str]:
        missing = [f for f in self.layout.files if not (self.path / f).is_file()]
        if missing:
            raise DataError(f"{self.path}: {self.layout.title} folder lacks "
                            f"{', '.join(missing)}")  # fmt: skip
        return list(self.layout.files)

    def _decode_all(self) -> dict[str, tuple[ImageSet, list[list[str]]]]:
        if self.path.is_dir():
            files = {f: (self.path / f).read_bytes() for f in self._present()}
        else:
            files = self._read_archive()
        return {split: (s, []) for split, s in parse(self.layout, files, str(self.path)).items()}

    def _read_archive(self) -> dict[str, bytes]:
        wanted = {f"{self.layout.folder}/{f}": f for f in self.layout.files}
        files = {}
        with _open_tar(self.path) as tar:
            for member in _members(tar, self.path):
                name = wanted.get(member.name.removeprefix("./"))
                if name is not None and member.isfile():
                    files[name] = tar.extractfile(member).read()
        missing = [f"{self.layout.folder}/{f}" for f in self.layout.files if f not in files]
        if missing:
            raise DataError(f"{self.path}: {self.layout.title} archive lacks "
                            f"{', '.join(missing)}")  # fmt: skip
        return files


# --- image folders -------------------------------------------------------------------------


class FolderSource(Source):
    """``train/<class>/*`` with ``test/<class>/*`` or ``val/<class>/*``: a directory, or a
    tar archive holding one (``image-folder-tar``)."""

    def __init__(
        self,
        path: Path,
        index: FolderIndex,
        *,
        root: Path,
        skip_bad: bool,
        is_tar: bool = False,
    ) -> None:
        super().__init__(root=root, skip_bad=skip_bad)
        self.path, self.index, self.is_tar = path, index, is_tar
        self.format = "image-folder-tar" if self.is_tar else "image-folder"
        self.name = _strip_archive_suffix(path.name)
        self.classes, self.splits = index.classes, index.splits
        probe = self._probe()
        self.sizes = [tuple(s) for s in probe["sizes"]]
        self.modes = probe["modes"]
        self.small = max(max(s) for s in self.sizes) <= SMALL_MAX_SIDE

    @cached_property
    def members(self) -> dict[str, tuple[int, int]]:
        """Tars: member name -> (data offset, size)."""
        return {name: (offset, size) for name, offset, size in _tar_members(self.path, self.root)}

    @property
    def channels(self) -> int:
        """3, or 1 when every probed image is grayscale (large images)."""
        return 1 if all(m == "L" for m in self.modes) else 3

    def display(self, name: str) -> str:
        """How errors name a file: its path, or ``archive:member``."""
        return f"{self.path}:{name}" if self.is_tar else str(self.path / name)

    def fingerprint(self) -> Any:
        if self.is_tar:
            return cache.file_fingerprint(self.path)
        files = (f for split in self.splits for f, _ in self.index.samples[split])
        if getattr(self, "small", True):  # decoded arrays: any change to any file counts
            return cache.tree_fingerprint(self.path, (self.path / f for f in files))
        return [str(self.path.resolve()), list(files)]  # large: names only (stat is slow)

    # --- probing: a few headers decide small vs large -----------------------------------

    def _probe(self) -> dict[str, Any]:
        if self.is_tar:  # cached: reading a compressed tar means decompressing it
            probe_file = _tar_cache_dir(self.path, self.root) / "probe.json"
            probe = cache.read_json(probe_file)
            if probe is None:
                probe = self._probe_files(self._read_files(self._probe_names()))
                cache.write_json(probe_file, probe)
            return probe
        return self._probe_files(self._read_files(self._probe_names()))

    def _probe_names(self) -> list[str]:
        """Folders: the first image of each training class; tars: the first training images
        in the archive (cheap to reach). At most PROBE_IMAGES."""
        train = [name for name, _ in self.index.samples["train"]]
        if self.is_tar:
            return sorted(train, key=lambda n: self.members[n][0])[:PROBE_IMAGES]
        first: dict[int, str] = {}
        for name, label in self.index.samples["train"]:
            first.setdefault(label, name)
        return list(first.values())[:PROBE_IMAGES]

    def _probe_files(self, files: Iterator[tuple[str, bytes | BadImage]]) -> dict[str, Any]:
        sizes, modes = [], []
        for name, data in files:
            if isinstance(data, BadImage):
                continue  # decoding reports it, with the skip_bad policy
            try:
                size, mode = image_header(data, self.display(name))
            except BadImage:
                continue
            sizes.append(size)
            modes.append(mode)
        if not sizes:
            raise DataError(f"{self.path}: none of the probed training images is readable "
                            f"(for example {self.display(self._probe_names()[0])})")  # fmt: skip
        return {"sizes": sizes, "modes": modes}

    def _read_files(self, names: list[str]) -> Iterator[tuple[str, bytes | BadImage]]:
        """``(name, bytes)`` of files or tar members (a :class:`BadImage` for a file that
        cannot be read); tar members in archive order, so a compressed tar is read once."""
        if not self.is_tar:
            for name in names:
                try:
                    yield name, (self.path / name).read_bytes()
                except OSError as err:
                    yield name, BadImage(f"{self.path / name}: cannot read the file "
                                         f"({err.strerror or err})")  # fmt: skip
            return
        with _open_tar(self.path) as tar:
            stream = tar.fileobj  # decompressed bytes; seeking forward reads on
            for name in sorted(names, key=lambda n: self.members[n][0]):
                offset, size = self.members[name]
                try:
                    stream.seek(offset)
                    data = stream.read(size)
                except (OSError, EOFError) as err:
                    raise DataError(f"{self.path}: truncated or damaged archive ({err})") from None
                if len(data) != size:
                    raise DataError(f"{self.path}: truncated archive (member {name} is cut off)")
                yield name, data

    # --- small: decode every split into arrays ------------------------------------------

    def _decode_all(self) -> dict[str, tuple[ImageSet, list[list[str]]]]:
        h, w = self.sizes[0]
        slots = {name: (split, i) for split in self.splits
                 for i, (name, _) in enumerate(self.index.samples[split])}  # fmt: skip
        arrays = {s: np.zeros((len(self.index.samples[s]), h, w, 3), np.uint8) for s in self.splits}
        good = {s: np.ones(len(self.index.samples[s]), bool) for s in self.splits}
        bad: dict[str, list[list[str]]] = {s: [] for s in self.splits}
        gray = True
        with progress(f"decoding {self.path.name}", len(slots)) as advance:
            for chunk in _chunks(self._read_files(list(slots)), 1024):
                named = [(self.display(name), data) for name, data in chunk]
                for (name, _), img in zip(chunk, decode_many(named), strict=True):
                    split, i = slots[name]
                    if isinstance(img, BadImage):
                        bad[split].append([self.display(name), str(img)])
                        good[split][i] = False
                        continue
                    if img.shape[1:] != (h, w):
                        raise DataError(
                            f"{self.display(name)}: image is {img.shape[2]}x{img.shape[1]}, "
                            f"but {self.display(self._probe_names()[0])} is {w}x{h}; the "
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
        base = self._extracted() if self.is_tar else self.path
        return [(base / name, label) for name, label in self.index.samples[split]]

    def _extracted(self) -> Path:
        """The tar's contents under the cache (extracted once), for random access."""
        target = self.cache_dir / "extracted"
        if target.is_dir():
            return target
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".extracting.", dir=self.cache_dir))
        try:
            with _open_tar(self.path) as tar, progress(f"extracting {self.path.name}", None) as adv:
                for member in _members(tar, self.path):
                    if member.isfile() or member.isdir():
                        _extract(tar, member, tmp)
                        adv(1)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    def _describe_large(self, splits: dict[str, Any]) -> dict[str, Any]:
        for split in self.splits:
            counts = [0] * len(self.classes)
            for _, label in self.index.samples[split]:
                counts[label] += 1
            splits[split] = {"images": sum(counts),
                             "per_class": dict(zip(self.classes, counts, strict=True))}  # fmt: skip
        stats = self.large_stats()
        heights, widths = zip(*self.sizes, strict=True)
        return {
            "image": {"size": None, "min_size": [min(heights), min(widths)],
                      "max_size": [max(heights), max(widths)], "probed": len(self.sizes),
                      "mode": "L" if self.channels == 1 else "RGB"},
            "train_channel_mean": stats["mean"], "train_channel_std": stats["std"],
            "stats_from": f"a sample of {stats['images']} training images",
        }  # fmt: skip

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
            raise DataError(f"{self.path}: none of {min(STATS_IMAGES, len(train))} sampled "
                            "training images is readable")  # fmt: skip
        mean = s1 / n
        std = (s2 / n - mean.square()).clamp_min(0).sqrt()
        stats = {"mean": (mean / 255).tolist(), "std": (std / 255).tolist(), "images": used}
        cache.write_json(path, stats)
        return stats


# --- tar archives --------------------------------------------------------------------------


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _open_tar(path: Path) -> tarfile.TarFile:
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


def _tar_cache_dir(path: Path, root: Path) -> Path:
    return root / "cache" / cache.cache_key(path.name, cache.file_fingerprint(path))


def _tar_contents(path: Path, root: Path) -> dict[str, Any]:
    """What a tar holds: ``{"format"}`` (None: nothing known), and for an image folder its
    ``classes`` and ``samples``; worked out once from the member list and cached."""
    file = _tar_cache_dir(path, root) / "contents.json"
    found = cache.read_json(file)
    if found is None:
        members = _tar_members(path, root)
        tops = {name.removeprefix("./").split("/")[0] for name, _, _ in members}
        layout = next((lay for lay in LAYOUTS.values() if lay.folder in tops), None)
        if layout is not None:
            found = {"format": layout.format}
        elif index := index_members(str(path), ((n, size >= 0) for n, _, size in members)):
            found = {"format": "image-folder-tar", "classes": index.classes,
                     "samples": index.samples}  # fmt: skip
        else:
            found = {"format": None}
        cache.write_json(file, found, indent=None)
    return found


def _tar_members(path: Path, root: Path) -> list[tuple[str, int, int]]:
    """``(name, data offset, size)`` of every file member (size -1 for folders); listed once
    (one pass through the archive) and cached."""
    index = _tar_cache_dir(path, root) / "members.json"
    members = cache.read_json(index)
    if members is None:
        with _open_tar(path) as tar:
            members = [(m.name, m.offset_data, m.size if m.isfile() else -1)
                       for m in _members(tar, path) if m.isfile() or m.isdir()]  # fmt: skip
        cache.write_json(index, members, indent=None)
    return [(name, offset, size) for name, offset, size in members]


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    if hasattr(tarfile, "data_filter"):  # refuses absolute paths, links outside, devices
        tar.extract(member, dest, filter="data")
    else:  # Python < 3.10.12
        tar.extract(member, dest)


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
