"""Loaders: a batch is a pure function of ``(seed, epoch, batch index)`` (:mod:`.plan`).

:class:`DeviceLoader` (small images) keeps a whole split on the training device as uint8
and makes each batch there with a few batched tensor ops. :class:`StreamingLoader`
(:mod:`.streaming`, large images) decodes and augments files in worker processes. Both
expose ``len()`` (batches per epoch) and ``batches(epoch, start)``; :func:`make_loaders`
picks the right one for a source and a :class:`LoaderSpec`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from reslab.data.imageset import ImageSet, split_indices, subset_indices
from reslab.data.normalization import Normalization
from reslab.data.plan import Batch, Plan, derive_seed, layout, to_device
from reslab.data.sources import Source
from reslab.data.streaming import StreamingLoader, default_workers
from reslab.data.transforms import pad_crop_flip
from reslab.errors import check_choice

__all__ = [
    "PAD_VALUES",
    "DeviceLoader",
    "LoaderSpec",
    "Loaders",
    "StreamingLoader",
    "default_workers",
    "make_loaders",
]

# What the 4-pixel CIFAR padding holds: the mean colour (pad after normalising) or black.
PAD_VALUES = ("mean", "black")
NORMALIZATIONS = ("per_pixel_mean", "per_channel")


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
        self.plan = Plan(
            len(data),
            batch_size=batch_size,
            train=train,
            seed=seed,
            rank=rank,
            world_size=world_size,
        )
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
            order = to_device(plan.order(epoch), self.device)
            if self.augment:
                params = to_device(self.augment_params(epoch), self.device)
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
            yield layout(x, self.channels_last), self.labels[index]


# --- the factory the trainer calls -------------------------------------------------------


@dataclass(frozen=True)
class LoaderSpec:
    """How :func:`make_loaders` batches a source (the trainer fills it from ``DataConfig``).

    ``batch_size`` is global (split over ranks); ``eval_batch_size`` (default
    ``batch_size``) is per process. ``val_split`` holds out that many training images,
    class-balanced, the same for every seed (the paper's 45k/5k is 5000). Subsets are
    class-balanced and fixed too. ``workers`` and ``color_pca`` concern large images only,
    ``pad_value`` (see :class:`DeviceLoader`) small ones.
    """

    batch_size: int
    device: torch.device | str = "cpu"
    seed: int = 0
    normalization_kind: str = "per_pixel_mean"
    val_split: int = 0
    augment: bool = True
    train_subset_per_class: int | None = None
    test_subset_per_class: int | None = None
    rank: int = 0
    world_size: int = 1
    channels_last: bool = False
    eval_batch_size: int | None = None
    workers: int | None = None
    color_pca: bool = True
    pad_value: str = "mean"

    def __post_init__(self) -> None:
        check_choice("normalization_kind", self.normalization_kind, NORMALIZATIONS)


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


def make_loaders(source: Source, spec: LoaderSpec) -> Loaders:
    """Train, test and (with ``spec.val_split`` > 0) validation loaders for ``source``;
    normalisation statistics come from the training images that remain."""
    if source.small:
        data = {"train": source.load("train"), "test": source.load(source.test_split)}
    else:
        data = {"train": source.samples("train"), "test": source.samples(source.test_split)}
    data = _select(data, source.classes, spec)
    train = data["train"]
    norm = _normalization(source, train, spec.normalization_kind)
    options = dict(
        device=spec.device,
        seed=spec.seed,
        rank=spec.rank,
        world_size=spec.world_size,
        channels_last=spec.channels_last,
        normalization=norm,
        augment=spec.augment,
    )

    def batching(split: str) -> dict[str, Any]:  # global for training, per process for eval
        if split == "train":
            return {"batch_size": spec.batch_size, "train": True}
        return {"batch_size": spec.eval_batch_size or spec.batch_size, "train": False}

    if source.small:
        loaders = {
            split: DeviceLoader(d, **batching(split), pad_value=spec.pad_value, **options)
            for split, d in data.items()
        }
        h, w = train.size
        input_size, in_chans = (h if h == w else (h, w)), train.channels
    else:
        loaders = {
            split: StreamingLoader(
                source,
                split,
                samples=d,
                workers=spec.workers,
                color_pca=spec.color_pca,
                **batching(split),
                **options,
            )
            for split, d in data.items()
        }
        input_size, in_chans = loaders["train"].crop, norm.channels
    return Loaders(
        train=loaders["train"],
        test=loaders["test"],
        val=loaders.get("val"),
        normalization=norm,
        classes=source.classes,
        input_size=input_size,
        in_chans=in_chans,
        train_images=len(train),
        description=_description(source, spec, data, input_size, norm),
        skipped=source.skipped,
    )


def _description(source: Source, spec: LoaderSpec, data, input_size, norm) -> dict[str, Any]:
    """The one-line account of the data that the run's metadata keeps."""
    return {
        "source": str(source.path),
        "name": source.name,
        "format": source.format,
        "loader": "device" if source.small else "streaming",
        "classes": len(source.classes),
        "input_size": input_size,
        "normalization": norm.kind,
        "augment": spec.augment,
        **({"pad_value": spec.pad_value} if source.small else {"color_pca": spec.color_pca}),
        "test_split": source.test_split,
        "val_split": spec.val_split,
        "train_subset_per_class": spec.train_subset_per_class,
        "test_subset_per_class": spec.test_subset_per_class,
        **{f"{split}_images": len(data.get(split, ())) for split in ("train", "val", "test")},
    }


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


def _select(data: dict[str, Any], classes, spec: LoaderSpec) -> dict[str, Any]:
    """Hold out the validation split, then take the subsets, of ImageSets or sample lists."""

    def labels(d) -> torch.Tensor:
        if isinstance(d, ImageSet):
            return d.labels
        return torch.tensor([label for _, label in d], dtype=torch.int64)

    def take(d, index: torch.Tensor):
        return d.subset(index) if isinstance(d, ImageSet) else [d[i] for i in index.tolist()]

    if spec.val_split:
        kept, held = split_indices(labels(data["train"]), spec.val_split, classes)
        data["train"], data["val"] = take(data["train"], kept), take(data["train"], held)
    for split, per_class in (
        ("train", spec.train_subset_per_class),
        ("test", spec.test_subset_per_class),
    ):
        if per_class:
            data[split] = take(data[split], subset_indices(labels(data[split]), per_class, classes))
    return data
