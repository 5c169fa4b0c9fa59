"""Test protocols: which views of an image a model scores (He et al. 2015, Sec. 3.4).

A checkpoint whose input is at most ``SMALL_MAX_SIDE`` pixels (CIFAR-sized) sees the whole
image at its input size, optionally with its mirror image. A larger (ImageNet-style) one is
tested as in the paper: ``single`` (shorter side 256, centre crop 224), ``10crop`` (the
four corner and the centre crops and their mirror images) or ``multiscale`` (the whole
image, fully convolutional, at shorter sides 224, 256, 384, 480 and 640). Sizes scale with
the checkpoint's input size S (resize = 256 S / 224, ...); at S = 224 they are the paper's.
The image's score is the softmax averaged over its views.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torchvision.transforms.v2 import functional as F

from reslab.data.sources import SMALL_MAX_SIDE
from reslab.data.transforms import MULTISCALE, centre_crop, multiscale_views, ten_crop
from reslab.errors import OptionError, unknown

PROTOCOLS = ("single", "10crop", "multiscale")
PAPER_RESIZE, PAPER_CROP = 256, 224  # Sec. 3.4: "the standard 10-crop testing" on 256


def input_hw(input_size: int | Sequence[int]) -> tuple[int, int]:
    """A checkpoint's ``input_size`` (an int, or [H, W] for non-square small data) as (H, W)."""
    if isinstance(input_size, int):
        return input_size, input_size
    h, w = (int(s) for s in input_size)
    return h, w


@dataclass(frozen=True)
class Protocol:
    """How one image becomes the views a model scores."""

    name: str
    input_size: tuple[int, int]  # (H, W) the checkpoint was trained on
    flip: bool  # mirror images among the views
    resize: int | None = None  # shorter side before cropping (ImageNet single, 10crop)
    crop: int | None = None
    scales: tuple[int, ...] | None = None  # shorter sides (multiscale)

    @property
    def imagenet(self) -> bool:
        """Whether this is a large-image protocol (resize + crop, or full images)."""
        return self.crop is not None or self.scales is not None

    @property
    def views_per_image(self) -> int:
        if self.name == "10crop":
            return 10
        n = len(self.scales) if self.scales is not None else 1
        return n * (2 if self.flip else 1)

    def views(self, img: torch.Tensor) -> list[torch.Tensor]:
        """uint8 (C, H, W) image -> its views, each uint8 (V, C, h, w) of one size.

        Multiscale gives one entry per scale (non-square views, aspect ratio kept); the
        other protocols one entry.
        """
        if self.name == "10crop":
            return [ten_crop(self.resize, self.crop)(img)]  # view k + 5 mirrors view k
        if self.scales is not None:
            views = multiscale_views(img, self.scales, self.flip)
            step = 2 if self.flip else 1
            return [torch.stack(views[i : i + step]) for i in range(0, len(views), step)]
        if self.crop is not None:
            view = centre_crop(self.resize, self.crop)(img)
        else:  # CIFAR-sized: the whole image at the model's input size
            view = img if tuple(img.shape[1:]) == self.input_size else _resize(img, self.input_size)
        return [torch.stack([view, F.horizontal_flip(view)]) if self.flip else view[None]]

    def card(self) -> dict[str, Any]:
        """The protocol as plain values, for ``eval.json``."""
        return {
            "name": self.name,
            "input_size": list(self.input_size),
            "resize": self.resize,
            "crop": self.crop,
            "scales": list(self.scales) if self.scales is not None else None,
            "flip": self.flip,
            "views_per_image": self.views_per_image,
            "resize_whole_image": None if self.imagenet else list(self.input_size),
            "score": f"softmax averaged over the {self.views_per_image} views of each image",
            "reference": "He et al. 2015, Sec. 3.4"
            if self.imagenet
            else "He et al. 2015, Sec. 4.2",
        }


def _resize(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.resize(img, list(size), antialias=True)


def make_protocol(name: str, input_size: int | Sequence[int], *, flip: bool = False) -> Protocol:
    """The protocol ``name`` for a checkpoint of ``input_size``.

    CIFAR-sized checkpoints (sides up to ``SMALL_MAX_SIDE``) allow ``single`` only;
    ``10crop`` always includes the mirror images.
    """
    if name not in PROTOCOLS:
        raise unknown("protocol", name, PROTOCOLS)
    h, w = input_hw(input_size)
    if max(h, w) <= SMALL_MAX_SIDE:
        if name != "single":
            raise OptionError(
                f"--protocol {name} is the paper's ImageNet test (Sec. 3.4) for large-image "
                f"models; this checkpoint takes {h}x{w} inputs (CIFAR-sized data): use "
                "--protocol single, with --flip to average each image with its mirror image"
            )
        return Protocol("single", (h, w), flip)
    if h != w:
        raise OptionError(f"ImageNet-style testing needs a square input size; got {h}x{w}")
    resize = round(PAPER_RESIZE * h / PAPER_CROP)
    if name == "10crop":
        return Protocol(name, (h, w), True, resize=resize, crop=h)
    if name == "multiscale":
        scales = tuple(round(s * h / PAPER_CROP) for s in MULTISCALE)
        return Protocol(name, (h, w), flip, scales=scales)
    return Protocol(name, (h, w), flip, resize=resize, crop=h)


def prediction_view(input_size: int | Sequence[int]) -> Protocol:
    """The single view ``predict`` uses: CIFAR-sized models see the image resized to their
    input size, ImageNet-style ones resize 256 + centre crop 224 (scaled with the size)."""
    return make_protocol("single", input_size, flip=False)
