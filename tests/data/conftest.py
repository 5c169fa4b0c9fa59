"""Datasets written in the exact on-disk layouts the data room reads, and the real archive
decoded once per session."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from reslab.data.cifar import LAYOUTS

# --- the official CIFAR "python version" --------------------------------------------------


def cifar_pixels(n: int, start: int) -> np.ndarray:
    """uint8 (n, 3072) rows of R, G, B planes; image i has R = row, G = col, B = its number."""
    rows, cols = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    data = np.empty((n, 3, 32, 32), np.uint8)
    data[:, 0], data[:, 1] = rows, cols
    data[:, 2] = ((start + np.arange(n)) % 256)[:, None, None]
    return data.reshape(n, 3072)


def cifar_files(name: str, per_batch: int = 10) -> dict[str, bytes]:
    """Every file of the official layout (pickle protocol 2 with bytes keys, as released)."""
    layout = LAYOUTS[name]
    k = 10 if name == "cifar10" else 100
    files, start = {}, 0
    for batch in (f for files_ in layout.splits.values() for f in files_):
        labels = [(start + i) % k for i in range(per_batch)]
        d: dict[bytes, Any] = {
            b"batch_label": batch.encode(),
            b"data": cifar_pixels(per_batch, start),
            b"filenames": [f"img_{start + i}.png".encode() for i in range(per_batch)],
        }
        if name == "cifar10":
            d[b"labels"] = labels
        else:
            d[b"fine_labels"] = labels
            d[b"coarse_labels"] = [label // 5 for label in labels]
        files[batch] = pickle.dumps(d, protocol=2)
        start += per_batch
    if name == "cifar10":
        meta = {b"label_names": [f"c{i}".encode() for i in range(10)], b"num_vis": 3072}
    else:
        meta = {
            b"fine_label_names": [f"f{i:02d}".encode() for i in range(100)],
            b"coarse_label_names": [f"s{i:02d}".encode() for i in range(20)],
        }
    files[layout.meta] = pickle.dumps(meta, protocol=2)
    return files


def write_cifar(
    root: Path, name: str = "cifar10", *, archive: bool = True, files: dict | None = None
) -> Path:
    """The official archive (``.tar.gz``) or its extracted folder under ``root``."""
    layout = LAYOUTS[name]
    files = cifar_files(name) if files is None else files
    if not archive:
        folder = root / layout.folder
        folder.mkdir(parents=True)
        for f, data in files.items():
            (folder / f).write_bytes(data)
        return folder
    return write_tar(root / layout.archive, {f"{layout.folder}/{f}": d for f, d in files.items()})


def write_tar(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz" if path.name.endswith("gz") else "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


# --- image folders ------------------------------------------------------------------------


def image_bytes(pixels: np.ndarray, fmt: str = "PNG", mode: str | None = None) -> bytes:
    img = Image.fromarray(pixels)
    if mode is not None:
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def folder_files(
    counts: dict[str, int],
    classes: tuple[str, ...] = ("ant", "bee", "cat"),
    *,
    size: tuple[int, int] = (8, 8),
    fmt: str = "PNG",
    mode: str | None = None,
    seed: int = 0,
) -> dict[str, bytes]:
    """``split/class/NNN.ext`` -> encoded image; class k has mean colour 40 + 60 k."""
    rng = np.random.default_rng(seed)
    files = {}
    for split, n in counts.items():
        for k, cls in enumerate(classes):
            for i in range(n):
                pixels = rng.integers(0, 40, (*size, 3)) + 40 + 60 * k
                files[f"{split}/{cls}/{i:03d}.{fmt.lower()}"] = image_bytes(
                    pixels.astype(np.uint8), fmt, mode
                )
    return files


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.fixture
def small_folder(tmp_path: Path) -> Path:
    """train/ 6 and test/ 2 images of 8x8 in each of 3 classes."""
    return write_folder(tmp_path / "small", folder_files({"train": 6, "test": 2}))


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return tmp_path / "data-root"
