"""The paper's ImageNet transforms (He et al. 2015, Sec. 3.4), on uint8 (C, H, W) tensors.

Training: scale augmentation (shorter side uniform in [256, 480], random 224x224 crop,
horizontal flip) and AlexNet's PCA colour augmentation. Testing: resize 256 + centre
crop 224; 10-crop; fully-convolutional views at several scales. Randomness comes from an
explicit ``torch.Generator``, so that a sample's augmentation is a function of its seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torchvision.transforms.v2 import functional as F

from reslab.errors import OptionError

# ImageNet's RGB eigenvalues/eigenvectors (pixels in [0, 1]) for AlexNet-style colour
# augmentation (Krizhevsky et al. 2012, Sec. 4.1), as used by fb.resnet.torch.
PCA_EIGVAL = (0.2175, 0.0188, 0.0045)
PCA_EIGVEC = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)
PCA_ALPHA_STD = 0.1  # AlexNet: alpha ~ N(0, 0.1)
MULTISCALE = (224, 256, 384, 480, 640)  # Sec. 3.4, fully-convolutional testing


def resize_shorter(img: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (antialiased) so that the shorter side is ``size``, keeping the aspect ratio."""
    return F.resize(img, [size], antialias=True)


@dataclass(frozen=True)
class ScaleAugment:
    """He et al. 2015, Sec. 3.4: shorter side resized to a uniform integer in ``scale``, a
    random ``crop`` x ``crop`` crop, horizontal flip with probability 0.5."""

    scale: tuple[int, int] = (256, 480)
    crop: int = 224
    flip: bool = True

    def __post_init__(self) -> None:
        lo, hi = self.scale
        if not self.crop <= lo <= hi:
            raise OptionError(
                f"scale augmentation needs crop <= min scale <= max scale; got "
                f"crop {self.crop}, scale {self.scale}"
            )

    def __call__(self, img: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """uint8 (C, H, W) -> uint8 (C, crop, crop)."""
        lo, hi = self.scale
        img = resize_shorter(img, int(torch.randint(lo, hi + 1, (), generator=g)))
        h, w = img.shape[-2:]
        top = int(torch.randint(0, h - self.crop + 1, (), generator=g))
        left = int(torch.randint(0, w - self.crop + 1, (), generator=g))
        img = F.crop(img, top, left, self.crop, self.crop)
        if self.flip and bool(torch.rand((), generator=g) < 0.5):
            img = F.horizontal_flip(img)
        return img


def pca_alpha(g: torch.Generator, std: float = PCA_ALPHA_STD) -> torch.Tensor:
    """float32 (3,): one image's draw of the colour augmentation's coefficients."""
    return torch.randn(3, generator=g) * std


def pca_basis() -> torch.Tensor:
    """float32 (3, 3): row k is the RGB offset per unit of alpha_k, ``eigval_k * eigvec_k``."""
    return (torch.tensor(PCA_EIGVEC) * torch.tensor(PCA_EIGVAL)).T


def _check(resize: int, crop: int) -> None:
    if crop > resize:
        raise OptionError(f"crop {crop} is larger than the resized shorter side {resize}")


def centre_crop(resize: int = 256, crop: int = 224) -> Callable[[torch.Tensor], torch.Tensor]:
    """Single-crop testing: shorter side ``resize``, centre ``crop`` x ``crop``."""
    _check(resize, crop)

    def transform(img: torch.Tensor) -> torch.Tensor:
        return F.center_crop(resize_shorter(img, resize), [crop, crop])

    return transform


def ten_crop(resize: int = 256, crop: int = 224) -> Callable[[torch.Tensor], torch.Tensor]:
    """10-crop testing (Sec. 3.4, after AlexNet): the four corner and the centre crops of
    the image resized to shorter side ``resize``, then their horizontal flips:
    (10, C, crop, crop) with view ``k + 5`` the mirror image of view ``k``."""
    _check(resize, crop)

    def transform(img: torch.Tensor) -> torch.Tensor:
        five = F.five_crop(resize_shorter(img, resize), [crop, crop])  # tl, tr, bl, br, centre
        return torch.stack([*five, *(F.horizontal_flip(v) for v in five)])

    return transform


def multiscale_views(
    img: torch.Tensor, scales: Sequence[int] = MULTISCALE, flip: bool = True
) -> list[torch.Tensor]:
    """Full images for fully-convolutional testing (Sec. 3.4): resized to each shorter side
    in ``scales`` (aspect ratio kept, so views are not square), each followed by its
    horizontal flip when ``flip``: ``[s0, s0 flipped, s1, s1 flipped, ...]`` of (C, h, w)."""
    views = []
    for scale in scales:
        view = resize_shorter(img, scale)
        views += [view, F.horizontal_flip(view)] if flip else [view]
    return views


def pad_crop_flip(x: torch.Tensor, params: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """The paper's CIFAR augmentation (Sec. 4.2) for a whole batch in one gather.

    ``x`` (B, C, H, W) is zero-padded by ``pad`` on each side, and sample ``i`` is cropped
    back to H x W at offset ``params[i, :2]`` = (dy, dx) in [0, 2 pad], then mirrored when
    ``params[i, 2]`` is 1. Works on any device and dtype; no Python loop over samples.
    """
    b, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))  # (B, C, H + 2p, W + 2p)
    rows = params[:, 0:1] + torch.arange(h, device=x.device)  # (B, H)
    cols = params[:, 1:2] + torch.arange(w, device=x.device)  # (B, W)
    cols = torch.where(params[:, 2:3].bool(), cols.flip(1), cols)  # mirrored crop
    index = rows[:, :, None] * (w + 2 * pad) + cols[:, None, :]  # (B, H, W) into the padding
    index = index.view(b, 1, h * w).expand(b, c, h * w)
    return padded.flatten(2).gather(2, index).view(b, c, h, w)
