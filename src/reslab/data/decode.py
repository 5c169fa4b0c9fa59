"""Image bytes to uint8 tensors: Pillow, with torchvision's JPEG decoder as a fast path.

JPEG is the hot case (CIFAR JPEG copies, ImageNet). torchvision decodes a list of JPEGs
about 3x faster than Pillow on 32x32 images, to the same pixels (both wrap libjpeg-turbo);
its decoders are deprecated since torchvision 0.29 (for TorchCodec), so when they are gone
Pillow does all the work. Any other format, and any JPEG torchvision refuses (CMYK,
truncated), goes through Pillow, which also gives the final verdict on a corrupt file.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from reslab.errors import DataError

try:
    from torchvision.io import ImageReadMode
    from torchvision.io import decode_jpeg as _tv_decode_jpeg
except ImportError:  # a torchvision without its deprecated decoders
    _tv_decode_jpeg = None

GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_JPEG_MAGIC = b"\xff\xd8\xff"


class BadImage(DataError):
    """A file that no decoder can read as an image."""


def decode(data: bytes, name: str | Path, channels: int | None = None) -> torch.Tensor:
    """Decode one image to a uint8 ``(C, H, W)`` tensor.

    ``channels``: 3 (RGB) or 1 (grayscale) to convert, or None to keep the file's own kind
    (1 for grayscale files, 3 for everything else). Raises :class:`BadImage` naming ``name``.
    """
    if data.startswith(_JPEG_MAGIC):
        (img,) = _decode_jpegs([data]) or (None,)
        if img is not None and img.shape[0] in (1, 3):
            return _convert(img, channels)
    return _decode_pil(data, name, channels)


def decode_many(
    items: Sequence[tuple[str, bytes | BadImage]], channels: int | None = None
) -> list[torch.Tensor | BadImage]:
    """:func:`decode` for many ``(name, bytes)`` at once: the JPEGs in one call to
    torchvision (much less overhead per image), a :class:`BadImage` in place of each image
    that cannot be read (or that arrived as one)."""
    out: list[torch.Tensor | BadImage | None] = [
        data if isinstance(data, BadImage) else None for _, data in items
    ]
    jpegs = [
        i
        for i, (_, data) in enumerate(items)
        if isinstance(data, bytes) and data.startswith(_JPEG_MAGIC)
    ]
    images = _decode_jpegs([items[i][1] for i in jpegs]) if jpegs else []
    for i, img in zip(jpegs, images, strict=False):  # nothing when the fast path failed
        if img.shape[0] in (1, 3):
            out[i] = _convert(img, channels)
    for i, img in enumerate(out):
        if img is None:
            try:
                out[i] = decode(items[i][1], items[i][0], channels)
            except BadImage as err:
                out[i] = err
    return out


def read_image(path: str | Path, channels: int | None = 3) -> torch.Tensor:
    """Read an image file to a uint8 ``(C, H, W)`` tensor (RGB by default)."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise BadImage(f"{path}: cannot read the file ({err.strerror or err})") from None
    return decode(data, path, channels)


def image_header(data: bytes, name: str | Path) -> tuple[tuple[int, int], str]:
    """``((H, W), "RGB" | "L")`` from the file's header, without decoding the pixels."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
            return (h, w), "L" if img.mode in GRAY_MODES else "RGB"
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise BadImage(f"{name}: not a readable image ({_reason(err)})") from None


def _decode_pil(data: bytes, name: str | Path, channels: int | None) -> torch.Tensor:
    try:
        with Image.open(io.BytesIO(data)) as img:
            frames = getattr(img, "n_frames", 1)
            if frames > 1:  # which frame would be the image? Refuse rather than guess.
                raise BadImage(
                    f"{name}: an animated or multi-page image ({frames} frames); "
                    "give a single still image"
                )
            gray = img.mode in GRAY_MODES if channels is None else channels == 1
            pixels = np.asarray(_eight_bit(img, name).convert("L" if gray else "RGB"))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise BadImage(f"{name}: not a readable image ({_reason(err)})") from None
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)


def _eight_bit(img: Image.Image, name: str | Path) -> Image.Image:
    """``img`` itself when Pillow converts it to L/RGB faithfully. 16-bit grayscale (I;16*,
    and I, as which older Pillows open 16-bit PNGs) is scaled to 8 bits: Pillow's convert
    clips it to 255, i.e. white. Float pixels have no standard range: refused."""
    if img.mode == "F":
        raise BadImage(
            f"{name}: 32-bit floating-point pixels (mode F) have no standard "
            "range; convert the image to 8 or 16 bits per channel"
        )
    if not img.mode.startswith("I"):
        return img
    values = np.asarray(img).astype(np.int64)
    low, high = (int(values.min()), int(values.max())) if values.size else (0, 0)
    if low < 0 or high > 65535:
        raise BadImage(
            f"{name}: 32-bit integer pixels from {low} to {high} have no known "
            "range; convert the image to 8 or 16 bits per channel"
        )
    scaled = (values * 255 + 32767) // 65535  # 0..65535 -> 0..255, rounded
    return Image.fromarray(scaled.astype(np.uint8), mode="L")


def _decode_jpegs(blobs: list[bytes]) -> list[torch.Tensor]:
    """torchvision's decoder on JPEG bytes (1 or 3 channels as stored; CMYK as 4); an empty
    list when it is unavailable or refuses any of them (truncated, ...): Pillow decides."""
    if _tv_decode_jpeg is None:
        return []
    tensors = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in blobs]  # writable
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # see the module docstring
            return _tv_decode_jpeg(tensors, mode=ImageReadMode.UNCHANGED)
    except RuntimeError:
        return []


def _convert(img: torch.Tensor, channels: int | None) -> torch.Tensor:
    if channels is None or img.shape[0] == channels:
        return img
    if channels == 3:  # grayscale to RGB
        return img.expand(3, -1, -1).contiguous()
    # RGB to grayscale: ITU-R 601-2 luma in Pillow's 16-bit fixed point (convert("L")).
    weights = torch.tensor([19595, 38470, 7471], dtype=torch.int32)[:, None, None]
    return ((img.int() * weights).sum(0, keepdim=True) + 0x8000).bitwise_right_shift(16).byte()


def _reason(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    # Pillow names the in-memory buffer, which says nothing to the user.
    return text.split(" <_io.")[0]
