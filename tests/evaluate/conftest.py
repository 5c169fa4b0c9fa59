"""Folders of odd-sized large images and checkpoints for the ImageNet-style protocols (the
real-data run and JPEGs, ``real_run`` and ``real_jpegs``, are in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

LARGE_CLASSES = ("class_0", "class_1", "class_2", "class_3")  # make_checkpoint's names
LARGE_SIZE = 72  # input side of the ImageNet-style test checkpoints (> 64: large-image)


ODD_SIZES = ((97, 131), (150, 83), (88, 88), (120, 201))  # (H, W): non-square, odd


def write_large_folder(root: Path, per_class: int = 1, bad: str | None = None) -> Path:
    """train/ and test/ folders of odd-sized RGB JPEGs (and a PNG), one class per name of
    LARGE_CLASSES; ``bad`` names a test file to write as garbage bytes."""
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        for k, name in enumerate(LARGE_CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                h, w = ODD_SIZES[(k + i) % len(ODD_SIZES)]
                pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                suffix = ".png" if (k, i) == (3, 0) else ".jpg"
                Image.fromarray(pixels).save(folder / f"{i:02d}{suffix}")
    if bad is not None:
        (root / "test" / bad).write_bytes(b"this is not an image")
    return root


@pytest.fixture
def large_folder(tmp_path: Path) -> Path:
    return write_large_folder(tmp_path / "large")


@pytest.fixture
def large_checkpoint(make_checkpoint) -> Path:
    """A ResNet-20 (CIFAR stem: cheap) checkpoint for 72x72 inputs: ImageNet-style testing."""
    return make_checkpoint("resnet20", input_size=LARGE_SIZE, num_classes=len(LARGE_CLASSES))


def write_odd_images(folder: Path) -> dict[str, Path]:
    """A grayscale PNG, an RGBA PNG, an odd-sized JPEG and a corrupt 'JPEG'."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    files = {
        "gray": folder / "gray.png",
        "rgba": folder / "rgba.png",
        "odd": folder / "odd.jpg",
        "corrupt": folder / "corrupt.jpg",
    }
    Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8), "L").save(files["gray"])
    Image.fromarray(rng.integers(0, 256, (32, 32, 4), dtype=np.uint8), "RGBA").save(files["rgba"])
    Image.fromarray(rng.integers(0, 256, (77, 131, 3), dtype=np.uint8)).save(files["odd"])
    files["corrupt"].write_bytes(b"\xff\xd8\xff\xe0 truncated nonsense")
    return files
