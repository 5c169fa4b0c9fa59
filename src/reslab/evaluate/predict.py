"""Predict the classes of image files with a checkpoint.

Every image goes through the checkpoint's own test view (:func:`prediction_view`): decoded
to the model's channels (grayscale expanded to RGB, alpha dropped, or RGB to luma), then
resized to the input size (CIFAR-sized models) or resized and centre-cropped (ImageNet
style), and normalised with the checkpoint's statistics. A file that cannot be read is
reported, by name, and the others are still predicted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from reslab.data import BadImage, read_image
from reslab.data.folder import hidden
from reslab.device import resolve_device
from reslab.errors import OptionError
from reslab.evaluate.evaluator import Loaded, load_for_eval, score
from reslab.evaluate.protocols import prediction_view

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm"}
)


@dataclass(frozen=True)
class Failure:
    """An input that produced no prediction."""

    file: str
    error: str


def expand_inputs(paths: Iterable[str | Path]) -> tuple[list[Path], list[Failure]]:
    """Files named, and the image files (by suffix, recursively, sorted) of folders named;
    a missing path or a folder without images is a :class:`Failure`."""
    files, failures = [], []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in IMAGE_SUFFIXES
                and not any(hidden(part) for part in f.relative_to(p).parts)
            )
            if not found:
                failures.append(Failure(str(p), f"{p}: a folder without image files"))
            files += found
        elif p.is_file():
            files.append(p)
        else:
            failures.append(Failure(str(p), f"{p}: no such file or folder"))
    return files, failures


def _chunks(items: list[Path], n: int) -> Iterator[list[Path]]:
    for lo in range(0, len(items), n):
        yield items[lo : lo + n]


def predict_files(
    loaded: Loaded, files: list[Path], *, topk: int = 5, batch_size: int = 64
) -> tuple[list[dict[str, Any]], list[Failure]]:
    """``[{"file", "top": [{"class", "index", "probability"}, ...]}]`` for the readable
    files (in order) and a :class:`Failure` for each unreadable one."""
    if topk < 1:
        raise OptionError(f"--topk must be at least 1; got {topk}")
    if batch_size < 1:
        raise OptionError(f"--batch-size must be positive; got {batch_size}")
    view = prediction_view(loaded.ckpt["input_size"])
    classes = loaded.classes
    k = min(topk, len(classes))
    results, failures = [], []
    for chunk in _chunks(files, batch_size):
        images, names = [], []
        for f in chunk:
            try:
                images.append(view.views(read_image(f, loaded.in_chans))[0])  # (1, C, h, w)
                names.append(str(f))
            except BadImage as err:
                failures.append(Failure(str(f), str(err)))
        if not images:
            continue
        groups = [(torch.cat(images), torch.arange(len(images)))]
        top = score(loaded, groups, len(images)).exp().topk(k, dim=1)
        for name, p, i in zip(names, top.values.tolist(), top.indices.tolist(), strict=True):
            results.append(
                {
                    "file": name,
                    "top": [
                        {"class": classes[c], "index": c, "probability": prob}
                        for c, prob in zip(i, p, strict=True)
                    ],
                }
            )
    return results, failures


def predict(
    checkpoint: str | Path,
    inputs: Iterable[str | Path],
    *,
    topk: int = 5,
    batch_size: int = 64,
    device: str = "auto",
    normalization: str | None = None,
) -> tuple[list[dict[str, Any]], list[Failure]]:
    """Load ``checkpoint`` (file or RUN_DIR, or foreign weights; ``normalization`` replaces
    the recorded one) and predict every image of ``inputs`` (files
    and folders). Returns the predictions and the inputs that failed."""
    loaded = load_for_eval(checkpoint, resolve_device(device), normalization)
    files, failures = expand_inputs(inputs)
    results, bad = predict_files(loaded, files, topk=topk, batch_size=batch_size)
    return results, failures + bad
