"""Evaluate a checkpoint on a dataset's test split under a test protocol.

Every batch becomes groups of same-sized views ``(x uint8 (M, C, h, w), owner int64 (M,))``
(``owner`` = the image each view belongs to); the model scores each group, and an image's
score is the mean of its views' softmax (He et al. 2015, Sec. 3.4). One code path serves the
single view, flips, 10 crops and the non-square views of multi-scale testing. The loss is
the negative log of the averaged probability of the true class (the cross-entropy for a
single view). Results go to ``eval.json`` with a card of the protocol, beside a confusion
matrix PNG.
"""

from __future__ import annotations

import platform
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from reslab import jsonio
from reslab.data import BadImage, Normalization, Source, open_source, read_image
from reslab.data.imageset import subset_indices
from reslab.data.loaders import default_workers
from reslab.device import autocast, resolve_device
from reslab.errors import DataError, OptionError
from reslab.evaluate.metrics import (
    Meter,
    ViewMean,
    confusion_matrix,
    per_class_accuracy,
    plot_confusion,
)
from reslab.evaluate.protocols import Protocol, make_protocol
from reslab.fileio import write_text
from reslab.models import model_from_checkpoint

Groups = list[tuple[Tensor, Tensor]]  # [(views uint8 (M, C, h, w), owner int64 (M,))]
EVAL_FILE, CONFUSION_FILE = "eval.json", "confusion.png"


@dataclass
class Loaded:
    """A checkpoint ready to score: the model in eval mode on ``device`` and its metadata."""

    path: Path
    ckpt: dict[str, Any]
    model: nn.Module
    normalization: Normalization
    device: torch.device
    precision: str  # the arithmetic of the forward passes (reslab.device.PRECISIONS)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.ckpt["classes"])

    @property
    def in_chans(self) -> int:
        return self.model.conv1.in_channels


def load_for_eval(
    checkpoint: str | Path,
    device: torch.device,
    normalization: str | None = None,
    precision: str = "auto",
) -> Loaded:
    """A checkpoint (file or RUN_DIR) or foreign weights (:mod:`reslab.evaluate.loading`)
    ready to score; ``normalization`` replaces the recorded one, and ``precision``
    (:func:`reslab.evaluate.loading.eval_precision`) the one it trained in."""
    from reslab.evaluate.loading import eval_precision, load_any

    path, ckpt = load_any(checkpoint, normalization=normalization)
    model = model_from_checkpoint(ckpt).eval().to(device)
    norm = Normalization.from_dict(ckpt["normalization"])
    return Loaded(path, ckpt, model, norm, device, eval_precision(ckpt, precision))


def check_classes(source: Source, loaded: Loaded) -> None:
    """The data's classes must be the checkpoint's, in the same order (labels are indices)."""
    ours, theirs = tuple(source.classes), loaded.classes
    if ours == theirs:
        return
    if len(ours) != len(theirs):
        raise DataError(
            f"{source.path} has {len(ours)} classes but checkpoint {loaded.path} "
            f"was trained on {len(theirs)}; evaluate it on the data it was "
            "trained for"
        )
    i = next(i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b)
    raise DataError(
        f"{source.path}: class {i} is {ours[i]!r}, but checkpoint {loaded.path} "
        f"calls it {theirs[i]!r}; the classes must match in name and order"
    )


# --- scoring -----------------------------------------------------------------------------


@torch.inference_mode()
def score(loaded: Loaded, groups: Groups, n: int) -> Tensor:
    """float32 ``(n, K)``: the log of each image's softmax averaged over its views."""
    mean = ViewMean(n, loaded.model.fc.out_features, loaded.device)
    for x, owner in groups:
        x = loaded.normalization.apply(x.to(loaded.device, non_blocking=True))
        with autocast(loaded.device, loaded.precision):
            logits = loaded.model(x)
        mean.add(logits.float().log_softmax(1), owner.to(loaded.device))
    return mean.log_mean()


@dataclass
class Outcome:
    """Totals of an evaluation: loss and misses, every prediction, the skipped files."""

    meter: Meter
    preds: list[Tensor] = field(default_factory=list)
    targets: list[Tensor] = field(default_factory=list)

    def add(self, log_p: Tensor, labels: Tensor) -> None:
        labels = labels.to(log_p.device)
        self.meter.update(log_p, labels, F.nll_loss(log_p, labels))
        self.preds.append(log_p.argmax(1).cpu())
        self.targets.append(labels.cpu())

    def confusion(self, num_classes: int) -> Tensor:
        preds = torch.cat(self.preds) if self.preds else torch.zeros(0, dtype=torch.long)
        targets = torch.cat(self.targets) if self.targets else torch.zeros(0, dtype=torch.long)
        return confusion_matrix(preds, targets, num_classes)


def run(loaded: Loaded, batches: Iterator[tuple[Groups, Tensor]]) -> Outcome:
    outcome = Outcome(Meter(loaded.device))
    for groups, labels in batches:
        if len(labels):
            outcome.add(score(loaded, groups, len(labels)), labels)
    return outcome


# --- batches of views ----------------------------------------------------------------------


def small_batches(
    images: Tensor, labels: Tensor, protocol: Protocol, batch_size: int
) -> Iterator[tuple[Groups, Tensor]]:
    """Decoded small images uint8 (N, H, W, C): one group per batch (the images, then
    their mirror images when ``protocol.flip``)."""
    h, w = images.shape[1:3]
    for lo in range(0, len(images), batch_size):
        x = images[lo : lo + batch_size].permute(0, 3, 1, 2)  # (B, C, H, W)
        if (h, w) != protocol.input_size:
            x = (
                torch.nn.functional.interpolate(
                    x.float(), protocol.input_size, mode="bilinear", antialias=True
                )
                .round()
                .clamp(0, 255)
                .byte()
            )
        b = len(x)
        owner = torch.arange(b)
        if protocol.flip:
            x, owner = torch.cat([x, x.flip(-1)]), torch.cat([owner, owner])
        yield [(x.contiguous(), owner)], labels[lo : lo + b]


class FileViews(Dataset):
    """Image files -> ``(views, label, file, error)``; an unreadable file has no views and
    its error message."""

    def __init__(self, samples: list[tuple[Path, int]], protocol: Protocol, channels: int) -> None:
        self.samples, self.protocol, self.channels = samples, protocol, channels

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[list[Tensor], int, str, str]:
        path, label = self.samples[i]
        try:
            img = read_image(path, self.channels)
        except BadImage as err:
            return [], label, str(path), str(err)
        return self.protocol.views(img), label, str(path), ""


def collate_views(items: list[tuple[list[Tensor], int, str, str]]):
    """Views of a batch of files grouped by size: ``(groups, labels, [[file, error], ...])``."""
    by_size: dict[tuple[int, ...], list[tuple[Tensor, int]]] = defaultdict(list)
    labels, bad = [], []
    for views, label, path, error in items:
        if error:
            bad.append([path, error])
            continue
        for v in views:  # (V, C, h, w)
            by_size[tuple(v.shape[1:])].append((v, len(labels)))
        labels.append(label)
    groups = [
        (torch.cat([v for v, _ in vs]), torch.cat([torch.full((len(v),), i) for v, i in vs]))
        for vs in by_size.values()
    ]
    return groups, torch.tensor(labels, dtype=torch.int64), bad


def file_batches(
    source: Source,
    samples: list[tuple[Path, int]],
    protocol: Protocol,
    channels: int,
    *,
    batch_size: int,
    workers: int,
) -> Iterator[tuple[Groups, Tensor]]:
    """Large images decoded and cut into views by ``workers`` processes; unreadable files
    fail, or (the source's ``skip_bad``) are left out and recorded in ``source.skipped``."""
    loader = DataLoader(
        FileViews(samples, protocol, channels),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=collate_views,
    )
    for groups, labels, bad in loader:
        source.report_bad(bad)
        yield groups, labels


# --- the whole evaluation --------------------------------------------------------------------


def test_batches(
    source: Source,
    loaded: Loaded,
    protocol: Protocol,
    *,
    split: str,
    batch_size: int,
    workers: int,
    subset_per_class: int | None,
) -> tuple[Iterator[tuple[Groups, Tensor]], int]:
    """The batches of ``split`` under ``protocol`` and the number of images in them."""
    if batch_size < 1:
        raise OptionError(f"--batch-size must be positive; got {batch_size}")
    if source.small:
        data = source.load(split)
        if subset_per_class:
            data = data.subset(subset_indices(data.labels, subset_per_class, source.classes))
        if protocol.imagenet:
            h, w = data.size
            raise DataError(
                f"{source.path} holds {h}x{w} images, but checkpoint {loaded.path} "
                f"is an ImageNet-style model of {protocol.input_size[0]}x"
                f"{protocol.input_size[1]} inputs; evaluate it on large images"
            )
        if data.channels != loaded.in_chans:
            raise DataError(
                f"{source.path} holds {data.channels}-channel images; checkpoint "
                f"{loaded.path} takes {loaded.in_chans} channels"
            )
        return small_batches(data.images, data.labels, protocol, batch_size), len(data)
    samples = source.samples(split)
    if subset_per_class:
        labels = torch.tensor([label for _, label in samples])
        samples = [samples[i] for i in subset_indices(labels, subset_per_class, source.classes)]
    batches = file_batches(
        source, samples, protocol, loaded.in_chans, batch_size=batch_size, workers=workers
    )
    return batches, len(samples)


def evaluate_checkpoint(
    checkpoint: str | Path,
    data: str | Path,
    *,
    protocol: str = "single",
    flip: bool = False,
    batch_size: int = 100,
    out: str | Path | None = None,
    device: str = "auto",
    workers: int | None = None,
    root: Path | None = None,
    skip_bad: bool = False,
    split: str | None = None,
    subset_per_class: int | None = None,
    normalization: str | None = None,
    precision: str = "auto",
) -> dict[str, Any]:
    """Evaluate ``checkpoint`` (file or RUN_DIR, or foreign weights) on ``data``'s test
    split, normalised as recorded or by ``normalization``, in the precision it trained in
    or ``precision``; write
    ``eval.json`` and ``confusion.png`` to ``out`` (default :func:`default_out_dir`) and
    return the ``eval.json`` record (with ``"out"``, the directory, added)."""
    start = time.perf_counter()
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise OptionError(f"--out {out}: a file is in the way; --out names a directory")
    dev = resolve_device(device)
    loaded = load_for_eval(checkpoint, dev, normalization, precision)
    proto = make_protocol(protocol, loaded.ckpt["input_size"], flip=flip)
    source = open_source(data, root=root, skip_bad=skip_bad)
    check_classes(source, loaded)
    split = split or source.test_split
    source.check_split(split)
    batches, n = test_batches(
        source,
        loaded,
        proto,
        split=split,
        batch_size=batch_size,
        workers=default_workers() if workers is None else workers,
        subset_per_class=subset_per_class,
    )
    outcome = run(loaded, batches)
    record = eval_record(
        loaded, source, proto, outcome, split=split, images=n, subset_per_class=subset_per_class
    )
    record["wall_s"] = round(time.perf_counter() - start, 3)
    options = {
        "split": split,
        "subset_per_class": subset_per_class,
        "skip_bad": skip_bad,
        "precision": None if precision == "auto" else loaded.precision,
    }
    out_dir = (
        Path(out)
        if out is not None
        else default_out_dir(checkpoint, loaded.path, source, proto, **options)
    )
    write_outputs(record, outcome.confusion(len(loaded.classes)), loaded.classes, out_dir)
    return {**record, "out": str(out_dir)}


def default_out_dir(
    checkpoint: str | Path,
    resolved: Path,
    source: Source,
    p: Protocol,
    *,
    split: str | None = None,
    subset_per_class: int | None = None,
    skip_bad: bool = False,
    precision: str | None = None,
) -> Path:
    """``<run>/eval/<checkpoint>-<data>[-<split>]-<protocol>[-flip][-subsetN][-skip-bad]
    [-<precision>]/`` (the precision only when one was asked for):
    inside the run directory when the checkpoint belongs to one (given as RUN_DIR or
    RUN_DIR/checkpoints/FILE), else ``eval/...`` beside the checkpoint file. The name holds
    every option that changes the numbers (the split only when it is not the test split),
    so that no evaluation overwrites another's results."""
    run_dir = resolved.parent.parent
    in_run = Path(checkpoint).is_dir() or (
        resolved.parent.name == "checkpoints" and (run_dir / "config.yaml").is_file()
    )
    base = run_dir if in_run else resolved.parent
    parts = [resolved.stem, source.name]
    if split is not None and split != source.test_split:
        parts.append(split)
    parts.append(p.name + ("-flip" if p.flip and p.name != "10crop" else ""))
    if subset_per_class:
        parts.append(f"subset{subset_per_class}")
    if skip_bad:
        parts.append("skip-bad")
    if precision:
        parts.append(precision)
    return base / "eval" / "-".join(parts)


def protocol_title(record: dict[str, Any]) -> str:
    """'resnet20, single + flip, cifar10 test (20 per class)': what the numbers are of."""
    proto, data = record["protocol"], record["data"]
    name = proto["name"] + (" + flip" if proto["flip"] and proto["name"] != "10crop" else "")
    subset = f" ({data['subset_per_class']} per class)" if data.get("subset_per_class") else ""
    model = record["checkpoint"]["model"]["name"]
    return f"{model}, {name}, {data['name']} {data['split']}{subset}"


def normalization_card(norm: Normalization) -> dict[str, Any]:
    """The normalisation in brief: kind and per-channel mean/std (a per-pixel mean image
    is summarised by its channel averages)."""
    return {
        "kind": norm.kind,
        "per_pixel": tuple(norm.mean.shape[1:]) != (1, 1),
        "mean": norm.mean.mean((1, 2)).tolist(),
        "std": norm.std.flatten().tolist(),
    }


def eval_record(
    loaded: Loaded,
    source: Source,
    proto: Protocol,
    outcome: Outcome,
    *,
    split: str,
    images: int,
    subset_per_class: int | None,
) -> dict[str, Any]:
    from reslab import __version__

    classes = loaded.classes
    matrix = outcome.confusion(len(classes))
    accuracy = per_class_accuracy(matrix).mul(100).tolist()
    return {
        **outcome.meter.as_percent(),
        "protocol": {**proto.card(), "normalization": normalization_card(loaded.normalization)},
        "data": {
            "source": str(source.path),
            "name": source.name,
            "format": source.format,
            "split": split,
            "images": images,
            "subset_per_class": subset_per_class,
            "small": source.small,
            "skipped": list(source.skipped),
        },
        "checkpoint": {
            "path": str(loaded.path),
            "iteration": loaded.ckpt.get("iteration"),
            "model": loaded.ckpt["model"],
        },
        "per_class_accuracy": {
            c: (None if a != a else a)  # NaN (no images) -> null
            for c, a in zip(classes, accuracy, strict=True)
        },
        "confusion_matrix": matrix.tolist(),
        "confusion_png": CONFUSION_FILE,
        "device": str(loaded.device),
        "precision": loaded.precision,
        "versions": {
            "reslab": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }


def write_outputs(
    record: dict[str, Any], matrix: Tensor, classes: tuple[str, ...], out_dir: Path
) -> None:
    title = protocol_title(record)
    plot_confusion(matrix, classes, out_dir / CONFUSION_FILE, title=title)
    write_text(out_dir / EVAL_FILE, jsonio.dumps(record, indent=2) + "\n")
