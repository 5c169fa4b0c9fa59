"""Loaders: a batch is a pure function of ``(seed, epoch, batch index)``.

:class:`DeviceLoader` (small images) keeps a whole split on the training device as uint8
and makes each batch there with a few batched tensor ops. :class:`StreamingLoader`
(large images) decodes and augments files in worker processes. Both expose ``len()`` (batches
per epoch) and ``batches(epoch, start)``; :func:`make_loaders` picks the right one.

Training order and per-sample augmentation depend only on ``(seed, epoch, position of the
sample in the epoch's global order)``: any world size and any resume point see the same
global batches. Ranks take their ``batch_size // world_size`` slice of every global batch
(training) or a contiguous shard of the split (evaluation).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from reslab.data.decode import BadImage, read_image
from reslab.data.imageset import ImageSet, split_indices, subset_indices
from reslab.data.normalization import Normalization
from reslab.data.sources import Source
from reslab.data.transforms import (
    ScaleAugment,
    centre_crop,
    pad_crop_flip,
    pca_alpha,
    pca_basis,
)
from reslab.errors import OptionError, check_choice

# What the 4-pixel CIFAR padding holds: the mean colour (pad after normalising) or black.
PAD_VALUES = ("mean", "black")

Batch = tuple[torch.Tensor, torch.Tensor]


def derive_seed(*keys: int) -> int:
    """A well-mixed 64-bit seed from integers (NumPy's SeedSequence hashing)."""
    state = np.random.SeedSequence([k & 0xFFFF_FFFF_FFFF_FFFF for k in keys]).generate_state(1)
    return int(state[0])


class _Plan:
    """Who gets which sample: the epoch's global order and this rank's share of it."""

    def __init__(
        self, n: int, *, batch_size: int, train: bool, seed: int, rank: int, world_size: int
    ) -> None:
        if batch_size <= 0:
            raise OptionError(f"batch_size must be positive; got {batch_size}")
        if not 0 <= rank < world_size:
            raise OptionError(f"rank must be in 0..{world_size - 1}; got {rank}")
        if train and batch_size % world_size:
            raise OptionError(f"the global batch_size {batch_size} must be divisible by the "
                              f"world size {world_size}")  # fmt: skip
        if train and n < batch_size:
            raise OptionError(f"batch_size {batch_size} exceeds the {n} training images")
        self.n, self.batch_size, self.train, self.seed = n, batch_size, train, seed
        self.rank, self.world_size = rank, world_size
        self.per_rank = batch_size // world_size if train else batch_size
        # Evaluation: rank r holds images [lo, hi), contiguous, no padding, no duplicates.
        self.lo, self.hi = n * rank // world_size, n * (rank + 1) // world_size

    def __len__(self) -> int:
        if self.train:
            return self.n // self.batch_size  # the last partial batch is dropped
        return -(-(self.hi - self.lo) // self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        """int64 (N,): the epoch's permutation without replacement (identity for eval)."""
        if not self.train:
            return torch.arange(self.n)
        g = torch.Generator().manual_seed(derive_seed(self.seed, epoch))
        return torch.randperm(self.n, generator=g)

    def positions(self, b: int) -> range:
        """Positions in the epoch order of this rank's part of batch ``b``."""
        if self.train:
            lo = b * self.batch_size + self.rank * self.per_rank
            return range(lo, lo + self.per_rank)
        lo = self.lo + b * self.batch_size
        return range(lo, min(lo + self.batch_size, self.hi))

    def check_start(self, epoch: int, start: int) -> None:
        if epoch < 0 or not 0 <= start <= len(self):
            raise OptionError(f"batches(epoch={epoch}, start={start}): need epoch >= 0 and "
                              f"0 <= start <= {len(self)}")  # fmt: skip


def _to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy without making the host wait: from pinned memory when the target is a GPU."""
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def _layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last if channels_last else
                        torch.contiguous_format)  # fmt: skip


class DeviceLoader:
    """Batches of an in-memory :class:`ImageSet` made on ``device`` (the paper's CIFAR input).

    The split lives on ``device`` as uint8; a batch is one gather of images, a normalisation
    and (training, ``augment``) one gather that pads by ``pad``, crops and mirrors every
    sample at its own offset (He et al. 2015, Sec. 4.2).

    ``pad_value`` (a departure flag, docs/departures.md): ``"mean"`` pads after the
    normalisation, so padded pixels are 0, the mean colour, as the authors' Torch code does
    (fb.resnet.torch's cifar10.lua: ColorNormalize, then RandomCrop(32, 4) zero-pads);
    ``"black"`` pads the uint8 image with black and normalises the crop, as torchvision-style
    pipelines do (RandomCrop(32, padding=4) before ToTensor and Normalize). With a per-pixel
    mean, "black" also subtracts the mean image at the crop's positions, not the source's.

    The epoch's order and augmentation parameters are drawn on the CPU once per epoch
    (identical on every device type) and copied over; iterating never waits for the host.
    """

    def __init__(
        self,
        data: ImageSet,
        *,
        batch_size: int,
        train: bool,
        device: torch.device | str = "cpu",
        normalization: Normalization,
        seed: int = 0,
        augment: bool = True,
        rank: int = 0,
        world_size: int = 1,
        channels_last: bool = False,
        pad: int = 4,
        pad_value: str = "mean",
    ) -> None:
        check_choice("pad_value", pad_value, PAD_VALUES)
        self.plan = _Plan(len(data), batch_size=batch_size, train=train, seed=seed, rank=rank,
                          world_size=world_size)  # fmt: skip
        self.pad_value = pad_value
        self.device = torch.device(device)
        self.train, self.augment, self.pad = train, augment and train, pad
        self.channels_last = channels_last
        # uint8 (N, C, H, W): batches gather whole images, contiguous for the ops that follow
        self.images = data.images.to(self.device).permute(0, 3, 1, 2).contiguous()
        self.labels = data.labels.to(self.device)
        self.normalization = normalization.to(self.device)

    def __len__(self) -> int:
        return len(self.plan)

    @property
    def batch_size(self) -> int:
        return self.plan.batch_size

    def augment_params(self, epoch: int) -> torch.Tensor:
        """int64 (N, 3): (dy, dx, flip) for every position of the epoch's order."""
        # A stream of its own: (seed, epoch, 1), apart from the order's (seed, epoch).
        g = torch.Generator().manual_seed(derive_seed(self.plan.seed, epoch, 1))
        offsets = torch.randint(0, 2 * self.pad + 1, (self.plan.n, 2), generator=g)
        flips = torch.randint(0, 2, (self.plan.n, 1), generator=g)
        return torch.cat([offsets, flips], 1)

    def batches(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        """``(x float32 (b, C, H, W) normalised, y int64 (b,))`` on the device, from batch
        ``start`` of ``epoch``."""
        plan = self.plan
        plan.check_start(epoch, start)
        order = params = None
        if self.train:
            order = _to_device(plan.order(epoch), self.device)
            if self.augment:
                params = _to_device(self.augment_params(epoch), self.device)
        for b in range(start, len(plan)):
            span = plan.positions(b)
            pos = slice(span.start, span.stop)
            index = order[pos] if order is not None else pos
            x = self.images[index]
            if params is None:
                x = self.normalization.apply(x)
            elif self.pad_value == "black":  # pad the uint8 pixels with 0, then normalise
                x = self.normalization.apply(pad_crop_flip(x, params[pos], self.pad))
            else:  # normalise, then pad with 0: the mean colour
                x = pad_crop_flip(self.normalization.apply(x), params[pos], self.pad)
            yield _layout(x, self.channels_last), self.labels[index]


# --- streaming ---------------------------------------------------------------------------


class _Files(Dataset):
    """Decodes and transforms one file per key ``(epoch, position, sample index)``; the
    key seeds the sample's augmentation. A bad file yields zeros and its error message."""

    def __init__(
        self,
        samples: list[tuple[Path, int]],
        *,
        train: bool,
        augment: bool,
        seed: int,
        channels: int,
        scale: ScaleAugment,
        test_resize: int,
    ) -> None:
        # Arrays, not a list of tuples: workers share them without copy-on-write growth
        # (reference counts would touch every Python object of a 1.28M-image list).
        self.paths = np.array([os.fsencode(p) for p, _ in samples])
        self.labels = np.array([label for _, label in samples], dtype=np.int64)
        self.train, self.augment, self.seed = train, augment, seed
        self.channels, self.scale = channels, scale
        self.test = centre_crop(test_resize, scale.crop)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: tuple[int, int, int]):
        epoch, position, i = key
        path, label = os.fsdecode(self.paths[i]), int(self.labels[i])
        g = torch.Generator().manual_seed(derive_seed(self.seed, epoch, position))
        alpha = pca_alpha(g)  # drawn first, used or not: the crops do not depend on it
        try:
            img = read_image(path, self.channels)
        except BadImage as err:
            blank = torch.zeros(self.channels, self.scale.crop, self.scale.crop, dtype=torch.uint8)
            return blank, label, alpha, str(path), str(err)
        img = self.scale(img, g) if self.train and self.augment else self.test(img)
        return img, label, alpha, str(path), ""


class _Keys(Sampler):
    """The batch sampler: this rank's keys of each batch of ``epoch`` from ``start``."""

    def __init__(self, plan: _Plan) -> None:
        self.plan, self.epoch, self.start = plan, 0, 0

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        order = self.plan.order(self.epoch).tolist()
        for b in range(self.start, len(self.plan)):
            yield [(self.epoch, p, order[p]) for p in self.plan.positions(b)]

    def __len__(self) -> int:
        return len(self.plan) - self.start


class StreamingLoader:
    """Batches of image files, decoded and augmented by ``workers`` processes.

    Training: the paper's scale augmentation (:class:`ScaleAugment`) and, with
    ``color_pca``, AlexNet's colour augmentation (applied on the device); evaluation: resize
    ``test_resize`` + centre crop. Normalisation happens on the device.
    """

    def __init__(
        self,
        source: Source,
        split: str,
        *,
        batch_size: int,
        train: bool,
        device: torch.device | str = "cpu",
        normalization: Normalization,
        seed: int = 0,
        workers: int | None = None,
        rank: int = 0,
        world_size: int = 1,
        channels_last: bool = False,
        augment: bool = True,
        scale: tuple[int, int] = (256, 480),
        crop: int = 224,
        test_resize: int = 256,
        # He et al. 2015, Sec. 3.4: "The standard color augmentation in [21] is used."
        color_pca: bool = True,
        samples: list[tuple[Path, int]] | None = None,  # instead of source.samples(split)
    ) -> None:
        self.source, self.crop = source, crop
        samples = source.samples(split) if samples is None else samples
        self.plan = _Plan(len(samples), batch_size=batch_size, train=train, seed=seed,
                          rank=rank, world_size=world_size)  # fmt: skip
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.normalization = normalization.to(self.device)
        channels = normalization.channels
        self.color_pca = color_pca and train and augment and channels == 3
        # RGB offset per unit of alpha, in normalised units: (3, C)
        self.pca_basis = (pca_basis() / normalization.std.view(1, -1)).to(self.device)
        self.dataset = _Files(samples, train=train, augment=augment, seed=seed, channels=channels,
                              scale=ScaleAugment(scale, crop), test_resize=test_resize)  # fmt: skip
        self.keys = _Keys(self.plan)
        workers = default_workers() if workers is None else workers
        self.loader = DataLoader(
            self.dataset, batch_sampler=self.keys, num_workers=workers,
            pin_memory=self.device.type == "cuda", persistent_workers=workers > 0,
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.plan)

    @property
    def batch_size(self) -> int:
        return self.plan.batch_size

    def batches(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        """As :meth:`DeviceLoader.batches`; a bad file fails (or, with the source's
        ``skip_bad``, is dropped from its batch and recorded in ``source.skipped``)."""
        self.plan.check_start(epoch, start)
        self.keys.epoch, self.keys.start = epoch, start
        for x, y, alpha, paths, errors in self.loader:
            bad = [[p, e] for p, e in zip(paths, errors, strict=True) if e]
            if bad:
                self.source.report_bad(bad)
                keep = torch.tensor([not e for e in errors])
                x, y, alpha = x[keep], y[keep], alpha[keep]
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
            x = self.normalization.apply(x)
            if self.color_pca:  # AlexNet's colour shift, one per image
                x += (alpha.to(self.device, non_blocking=True) @ self.pca_basis)[:, :, None, None]
            yield _layout(x, self.channels_last), y


def default_workers() -> int:
    """min(8, the CPUs this process may use)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(8, cpus or 1)


# --- the factory the trainer calls -------------------------------------------------------


@dataclass
class Loaders:
    """Everything training needs from the data; ``val`` is None without a validation split."""

    train: DeviceLoader | StreamingLoader
    test: DeviceLoader | StreamingLoader
    val: DeviceLoader | StreamingLoader | None
    normalization: Normalization
    classes: tuple[str, ...]
    input_size: int | tuple[int, int]  # the side of the network's input (H, W when not square)
    in_chans: int
    train_images: int
    description: dict[str, Any] = field(default_factory=dict)  # for the run's metadata
    skipped: list[str] = field(default_factory=list)  # the source's list: grows as files fail


def make_loaders(
    source: Source,
    *,
    batch_size: int,
    device: torch.device | str = "cpu",
    seed: int = 0,
    normalization_kind: str = "per_pixel_mean",
    val_split: int = 0,
    augment: bool = True,
    train_subset_per_class: int | None = None,
    test_subset_per_class: int | None = None,
    rank: int = 0,
    world_size: int = 1,
    channels_last: bool = False,
    eval_batch_size: int | None = None,
    workers: int | None = None,
    color_pca: bool = True,
    pad_value: str = "mean",
) -> Loaders:
    """Train, test and (with ``val_split`` > 0) validation loaders for ``source``.

    ``batch_size`` is global (split over ranks); ``eval_batch_size`` (default
    ``batch_size``) is per process. ``val_split`` holds out that many training images,
    class-balanced, the same for every seed (the paper's 45k/5k is 5000). Subsets are
    class-balanced and fixed too. Normalisation statistics come from the training images
    that remain. ``workers`` and ``color_pca`` concern large images only, ``pad_value``
    (see :class:`DeviceLoader`) small ones.
    """
    check_choice("normalization_kind", normalization_kind, ("per_pixel_mean", "per_channel"))
    if source.small:
        data = {"train": source.load("train"), "test": source.load(source.test_split)}
    else:
        data = {"train": source.samples("train"), "test": source.samples(source.test_split)}
    data = _select(data, source.classes, val_split, train_subset_per_class, test_subset_per_class)
    train = data["train"]
    norm = _normalization(source, train, normalization_kind)
    options = dict(device=device, seed=seed, rank=rank, world_size=world_size,
                   channels_last=channels_last, normalization=norm, augment=augment)  # fmt: skip

    def batching(split: str) -> dict[str, Any]:  # global for training, per process for eval
        if split == "train":
            return {"batch_size": batch_size, "train": True}
        return {"batch_size": eval_batch_size or batch_size, "train": False}

    if source.small:
        loaders = {split: DeviceLoader(d, **batching(split), pad_value=pad_value, **options)
                   for split, d in data.items()}  # fmt: skip
        h, w = train.size
        input_size, in_chans = (h if h == w else (h, w)), train.channels
    else:
        loaders = {split: StreamingLoader(source, split, samples=d, workers=workers,
                                          color_pca=color_pca, **batching(split), **options)
                   for split, d in data.items()}  # fmt: skip
        input_size, in_chans = loaders["train"].crop, norm.channels
    description = {
        "source": str(source.path), "name": source.name, "format": source.format,
        "loader": "device" if source.small else "streaming", "classes": len(source.classes),
        "input_size": input_size, "normalization": norm.kind, "augment": augment,
        **({"pad_value": pad_value} if source.small else {"color_pca": color_pca}),
        "test_split": source.test_split, "val_split": val_split,
        "train_subset_per_class": train_subset_per_class,
        "test_subset_per_class": test_subset_per_class,
        **{f"{split}_images": len(data.get(split, ())) for split in ("train", "val", "test")},
    }  # fmt: skip
    return Loaders(
        train=loaders["train"], test=loaders["test"], val=loaders.get("val"),
        normalization=norm, classes=source.classes, input_size=input_size, in_chans=in_chans,
        train_images=len(train), description=description, skipped=source.skipped,
    )  # fmt: skip


def _normalization(source: Source, train, kind: str) -> Normalization:
    if source.small:
        if kind == "per_pixel_mean":
            return Normalization.per_pixel_mean(train)
        return Normalization.per_channel(train)
    stats = source.large_stats()
    if kind == "per_pixel_mean":
        # Departure, flagged: the paper subtracts the per-pixel mean (Sec. 3.4), which is
        # ill-defined over images of different sizes; we subtract the per-channel mean.
        return Normalization.from_channel_stats(stats["mean"])
    return Normalization.from_channel_stats(stats["mean"], stats["std"])


def _select(data: dict[str, Any], classes, val_split, train_per_class, test_per_class):
    """Hold out the validation split, then take the subsets, of ImageSets or sample lists."""

    def labels(d) -> torch.Tensor:
        if isinstance(d, ImageSet):
            return d.labels
        return torch.tensor([label for _, label in d], dtype=torch.int64)

    def take(d, index: torch.Tensor):
        return d.subset(index) if isinstance(d, ImageSet) else [d[i] for i in index.tolist()]

    if val_split:
        kept, held = split_indices(labels(data["train"]), val_split, classes)
        data["train"], data["val"] = take(data["train"], kept), take(data["train"], held)
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        if per_class:
            data[split] = take(data[split], subset_indices(labels(data[split]), per_class, classes))
    return data
