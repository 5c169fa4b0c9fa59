"""A tiny ResNet-20 trained on the real CIFAR-10 JPEG copy, real JPEG files, and folders of
odd-sized large images for the ImageNet-style protocols."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reslab.train.launch import launch

REAL_TEST_PER_CLASS = 10  # the run's (and the evaluations') test subset: 100 images
LARGE_CLASSES = ("class_0", "class_1", "class_2", "class_3")  # make_checkpoint's names
LARGE_SIZE = 72  # input side of the ImageNet-style test checkpoints (> 64: large-image)


@pytest.fixture(scope="session")
def real_run(real_source, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run directory: ResNet-20, 20 iterations on 200 real training images."""
    run = tmp_path_factory.mktemp("real-run") / "run"
    summary = launch(
        model="resnet20", recipe="cifar-quick", data=str(real_source.path), out=run,
        iterations=20,
        sets=[f"data.root={real_source.root}", "data.train_subset_per_class=20",
              f"data.test_subset_per_class={REAL_TEST_PER_CLASS}", "optim.batch_size=32",
              "run.eval_every=20", "run.log_every=10", "run.checkpoint_every=20",
              "data.eval_batch_size=50", "model.channels_last=false",
              "data.normalization=per_pixel_mean"]  # the paper's mean image
    )  # fmt: skip
    assert summary["status"] == "finished"
    return run


@pytest.fixture(scope="session")
def real_jpegs(cifar10_jpeg: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six real CIFAR-10 JPEG files, the first in the archive."""
    out = tmp_path_factory.mktemp("real-jpegs")
    files = []
    with tarfile.open(cifar10_jpeg) as tar:
        for member in tar:
            if member.isfile() and member.name.lower().endswith((".jpg", ".jpeg")):
                path = out / f"{len(files)}-{Path(member.name).name}"
                path.write_bytes(tar.extractfile(member).read())
                files.append(path)
                if len(files) == 6:
                    break
    assert len(files) == 6, f"{cifar10_jpeg} holds fewer than 6 JPEG files"
    return files


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
