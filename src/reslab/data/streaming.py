"""Large images: :class:`StreamingLoader` decodes and augments image files in worker
processes; the batch contract is :class:`~reslab.data.loaders.DeviceLoader`'s."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from reslab.data.decode import BadImage, read_image
from reslab.data.normalization import Normalization
from reslab.data.plan import Batch, Plan, derive_seed, layout
from reslab.data.sources import Source
from reslab.data.transforms import ScaleAugment, centre_crop, pca_alpha, pca_basis


class _ImageFiles(Dataset):
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

    def __init__(self, plan: Plan) -> None:
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
        self.plan = Plan(
            len(samples),
            batch_size=batch_size,
            train=train,
            seed=seed,
            rank=rank,
            world_size=world_size,
        )
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.normalization = normalization.to(self.device)
        channels = normalization.channels
        self.color_pca = color_pca and train and augment and channels == 3
        # RGB offset per unit of alpha, in normalised units: (3, C)
        self.pca_basis = (pca_basis() / normalization.std.view(1, -1)).to(self.device)
        self.dataset = _ImageFiles(
            samples,
            train=train,
            augment=augment,
            seed=seed,
            channels=channels,
            scale=ScaleAugment(scale, crop),
            test_resize=test_resize,
        )
        self.keys = _Keys(self.plan)
        workers = default_workers() if workers is None else workers
        self.loader = DataLoader(
            self.dataset,
            batch_sampler=self.keys,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
        )

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
            yield layout(x, self.channels_last), y


def default_workers() -> int:
    """min(8, the CPUs this process may use)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(8, cpus or 1)
