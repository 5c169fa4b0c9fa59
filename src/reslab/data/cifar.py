"""The official CIFAR-10 / CIFAR-100 "python version" (Krizhevsky, 2009).

Each batch file is a pickled dict with bytes keys: ``b"data"`` uint8 (N, 3072), rows of
the red, green then blue 32x32 planes; ``b"labels"`` (CIFAR-10) or ``b"fine_labels"`` and
``b"coarse_labels"`` (CIFAR-100). The meta file names the classes.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from reslab.data.imageset import ImageSet
from reslab.errors import DataError


@dataclass(frozen=True)
class CifarLayout:
    name: str  # "cifar10": the name open_source accepts
    title: str
    folder: str  # the folder inside the official archive
    archive: str  # the official archive's file name
    url: str
    md5: str
    meta: str
    splits: dict[str, tuple[str, ...]]  # split -> batch files
    names_key: bytes
    label_key: bytes
    coarse_names_key: bytes | None = None
    coarse_label_key: bytes | None = None

    @property
    def format(self) -> str:
        return f"{self.name}-python"

    @property
    def files(self) -> tuple[str, ...]:
        return (self.meta, *(f for files in self.splits.values() for f in files))


LAYOUTS = {
    "cifar10": CifarLayout(
        name="cifar10",
        title="CIFAR-10",
        folder="cifar-10-batches-py",
        archive="cifar-10-python.tar.gz",
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        md5="c58f30108f718f92721af3b95e74349a",
        meta="batches.meta",
        splits={"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)},
        names_key=b"label_names",
        label_key=b"labels",
    ),
    "cifar100": CifarLayout(
        name="cifar100",
        title="CIFAR-100",
        folder="cifar-100-python",
        archive="cifar-100-python.tar.gz",
        url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        md5="eb9058c3a382ffc7106e4002c42a8d85",
        meta="meta",
        splits={"train": ("train",), "test": ("test",)},
        names_key=b"fine_label_names",
        label_key=b"fine_labels",
        coarse_names_key=b"coarse_label_names",
        coarse_label_key=b"coarse_labels",
    ),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings and NumPy arrays only: a CIFAR file cannot run code."""

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def unpickle(data: bytes, where: str) -> dict[bytes, Any]:
    try:
        obj = _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as err:  # a pickle can fail in many ways; all mean "not a batch file"
        raise DataError(f"{where}: not a CIFAR batch file ({err})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{where}: not a CIFAR batch file (a {type(obj).__name__}, not a dict)")
    return obj


def class_names(meta: dict[bytes, Any], key: bytes, where: str) -> tuple[str, ...]:
    names = meta.get(key)
    if not isinstance(names, list) or not names:
        raise DataError(f"{where}: no list of class names under key {key!r}")
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def parse(layout: CifarLayout, files: dict[str, bytes], where: str) -> dict[str, ImageSet]:
    """Every split of a CIFAR python dataset from its files' bytes (keyed by file name)."""
    meta = unpickle(files[layout.meta], f"{where}/{layout.meta}")
    classes = class_names(meta, layout.names_key, f"{where}/{layout.meta}")
    coarse = None
    if layout.coarse_names_key is not None:
        coarse = class_names(meta, layout.coarse_names_key, f"{where}/{layout.meta}")
    sets = {}
    for split, names in layout.splits.items():
        parts = [_batch(layout, files[n], f"{where}/{n}", classes, coarse) for n in names]
        images, labels, coarse_labels = (torch.cat(t) for t in zip(*parts, strict=True))
        sets[split] = ImageSet(images, labels, classes, coarse_labels if coarse else None, coarse)
    return sets


def _batch(
    layout: CifarLayout,
    data: bytes,
    where: str,
    classes: tuple[str, ...],
    coarse: tuple[str, ...] | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    batch = unpickle(data, where)
    pixels = batch.get(b"data")
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 2 or pixels.shape[1] != 3072:
        shape = getattr(pixels, "shape", type(pixels).__name__)
        raise DataError(f"{where}: key b'data' must be a (N, 3072) uint8 array; got {shape}")
    if pixels.dtype != np.uint8:
        raise DataError(f"{where}: key b'data' must be uint8; got {pixels.dtype}")
    # Rows are three 32x32 planes (R, G, B): (N, 3, 32, 32) -> (N, 32, 32, 3).
    images = torch.from_numpy(pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy())
    labels = _labels(batch, layout.label_key, len(images), len(classes), where)
    if coarse is None:
        return images, labels, labels
    return images, labels, _labels(batch, layout.coarse_label_key, len(images), len(coarse), where)


def _labels(batch: dict, key: bytes, n: int, k: int, where: str) -> torch.Tensor:
    if key not in batch:
        raise DataError(f"{where}: no key {key!r} (the labels)")
    labels = torch.as_tensor(np.asarray(batch[key]), dtype=torch.int64)
    if labels.shape != (n,):
        raise DataError(f"{where}: key {key!r} holds {tuple(labels.shape)} labels for {n} images")
    bad = (labels < 0) | (labels >= k)
    if bad.any():
        i = int(bad.nonzero()[0])
        raise DataError(
            f"{where}: key {key!r} holds label {int(labels[i])} at index {i}, "
            f"outside 0..{k - 1} ({k} classes)"
        )
    return labels
