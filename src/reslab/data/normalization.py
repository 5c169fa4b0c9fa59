"""Input normalisation: the paper's per-pixel mean, or per-channel mean and std."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from reslab.data.imageset import ImageSet
from reslab.errors import DataError

KINDS = ("per_pixel_mean", "per_channel", "per_channel_mean")
# The per-channel ImageNet statistics of torchvision's recipes, which most third-party
# weights (torchvision's ImageNet ResNets, akamaster/pytorch_resnet_cifar10) trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PRESETS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD)}
_CHUNK = 2048  # images per step when summing (bounded memory)


@dataclass(frozen=True)
class Normalization:
    """``x = (pixels / 255 - mean) / std``, with ``mean``/``std`` broadcastable to (C, H, W).

    Kinds: ``per_pixel_mean`` (He et al. 2015, Sec. 4.2: subtract the mean image, unit
    std), ``per_channel`` (mean and std per channel), ``per_channel_mean`` (mean per
    channel, unit std: the paper's mean subtraction for images of varying size).
    """

    mean: torch.Tensor  # float32 (C, H, W) or (C, 1, 1), in [0, 1] pixel units
    std: torch.Tensor  # float32 (C, 1, 1)
    kind: str

    @classmethod
    def per_pixel_mean(cls, train: ImageSet) -> Normalization:
        mean = pixel_mean(train.images).permute(2, 0, 1).float()
        return cls(mean.contiguous(), torch.ones(train.channels, 1, 1), "per_pixel_mean")

    @classmethod
    def per_channel(cls, train: ImageSet) -> Normalization:
        mean, std = channel_stats(train.images)
        return cls.from_channel_stats(mean, std)

    @classmethod
    def from_channel_stats(
        cls, mean: Sequence[float], std: Sequence[float] | None = None
    ) -> Normalization:
        """``per_channel`` from known statistics; without ``std``, ``per_channel_mean``."""
        m = torch.tensor(mean, dtype=torch.float32)[:, None, None]
        if std is None:
            return cls(m, torch.ones_like(m), "per_channel_mean")
        return cls(m, torch.tensor(std, dtype=torch.float32)[:, None, None], "per_channel")

    @classmethod
    def parse(cls, spec: str, channels: int) -> Normalization:
        """A normalisation given by name (``imagenet``) or as ``M1,M2,M3/S1,S2,S3``
        (per-channel mean and std, pixels in [0, 1]; without ``/STD``, unit std)."""
        if spec in PRESETS:
            mean, std = PRESETS[spec]
        else:
            m, sep, s = spec.partition("/")
            try:
                mean = [float(v) for v in m.split(",")]
                std = [float(v) for v in s.split(",")] if sep else None
            except ValueError:
                raise DataError(
                    f"normalization {spec!r}: expected {' or '.join(PRESETS)} or "
                    "MEAN,MEAN,MEAN/STD,STD,STD (pixels in [0, 1])"
                ) from None
        if len(mean) != channels or (std is not None and len(std) != len(mean)):
            raise DataError(
                f"normalization {spec!r} gives {len(mean)} means and "
                f"{len(std) if std else 0} stds; the model takes {channels} channels"
            )
        if std is not None and min(std) <= 0:
            raise DataError(f"normalization {spec!r}: every std must be positive")
        return cls.from_channel_stats(mean, std)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) to normalised float32 (B, C, H, W) on ``x``'s device."""
        if self.mean.shape[1:] != (1, 1) and self.mean.shape[1:] != x.shape[2:]:
            raise DataError(
                f"a per-pixel mean of {tuple(self.mean.shape[1:])} images cannot normalise "
                f"{tuple(x.shape[2:])} images"
            )
        mean, std = self.mean.to(x.device), self.std.to(x.device)
        return x.float().div_(255).sub_(mean).div_(std)

    def to(self, device: torch.device | str) -> Normalization:
        return Normalization(self.mean.to(device), self.std.to(device), self.kind)

    @property
    def channels(self) -> int:
        return self.mean.shape[0]

    def to_dict(self) -> dict[str, Any]:
        """Plain nested lists (checkpoints, export sidecars)."""
        return {"kind": self.kind, "mean": self.mean.cpu().tolist(), "std": self.std.cpu().tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalization:
        try:
            kind = d["kind"]
            mean = torch.tensor(d["mean"], dtype=torch.float32)
            std = torch.tensor(d["std"], dtype=torch.float32)
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(
                f"normalization record is malformed ({err!r}); expected "
                "{'kind', 'mean', 'std'} with nested lists"
            ) from None
        if kind not in KINDS or mean.ndim != 3 or std.shape != (mean.shape[0], 1, 1):
            raise DataError(
                f"normalization record is malformed: kind {kind!r}, mean "
                f"{tuple(mean.shape)}, std {tuple(std.shape)}"
            )
        return cls(mean, std, kind)


def pixel_mean(images: torch.Tensor) -> torch.Tensor:
    """float64 (H, W, C) mean image of uint8 (N, H, W, C), in [0, 1]."""
    total = torch.zeros(images[0].numel(), dtype=torch.float64)
    for chunk in images.split(_CHUNK):  # float32 sums of <= 2048 * 255 are exact
        total += chunk.reshape(len(chunk), -1).float().sum(0)
    return (total / (255.0 * len(images))).view(images.shape[1:])


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 (N, H, W, C) over all pixels, in [0, 1].

    Exact: from each channel's 256-bin histogram.
    """
    values = torch.arange(256, dtype=torch.float64) / 255
    mean, std = [], []
    for c in range(images.shape[3]):
        hist = torch.bincount(images[..., c].flatten(), minlength=256).double()
        p = hist / hist.sum()
        m = float((p * values).sum())
        mean.append(m)
        std.append(float((p * (values - m).square()).sum().sqrt()))
    return mean, std
