"""Every Pillow mode a user can hand over decodes to the right pixels, or is refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from reslab.data.decode import BadImage, decode

RNG = np.random.default_rng(0)
RGB = Image.fromarray(RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8))
GRAY = np.asarray(RGB.convert("L"))


def _file(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("1", "PNG"),
        ("L", "PNG"),
        ("LA", "PNG"),
        ("P", "PNG"),
        ("PA", "TIFF"),
        ("RGB", "PNG"),
        ("RGBA", "PNG"),
        ("CMYK", "TIFF"),
    ],
)
def test_eight_bit_modes_decode_as_pillow_converts_them(mode: str, fmt: str) -> None:
    img = RGB.convert(mode)
    data = _file(img, fmt)
    assert Image.open(io.BytesIO(data)).mode == mode
    expected = torch.from_numpy(np.asarray(img.convert("RGB")).copy()).permute(2, 0, 1)
    assert torch.equal(decode(data, "x", channels=3), expected)


@pytest.mark.parametrize(("fmt", "mode"), [("PNG", "I;16"), ("TIFF", "I;16"), ("PPM", "I")])
def test_sixteen_bit_grayscale_is_scaled_not_clipped_to_white(fmt: str, mode: str) -> None:
    sixteen = GRAY.astype(np.uint16) * 257  # 8-bit values spread over 0..65535
    data = _file(Image.fromarray(sixteen), fmt)
    assert Image.open(io.BytesIO(data)).mode == mode
    gray = decode(data, "x")
    assert gray.shape == (1, 8, 8)
    assert torch.equal(gray[0], torch.from_numpy(GRAY.copy()))
    assert torch.equal(decode(data, "x", channels=3), gray.expand(3, -1, -1))


def test_float_and_out_of_range_integer_pixels_are_refused() -> None:
    floats = _file(Image.fromarray(GRAY.astype(np.float32) / 255), "TIFF")
    with pytest.raises(BadImage, match=r"x\.tif: 32-bit floating-point pixels \(mode F\)"):
        decode(floats, "x.tif")
    wide = _file(Image.fromarray(GRAY.astype(np.int32) * 100_000), "TIFF")
    with pytest.raises(BadImage, match=r"32-bit integer pixels from .* have no known range"):
        decode(wide, "x.tif")


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "TIFF"])
def test_animated_and_multi_page_files_are_refused(fmt: str) -> None:
    frames = [RGB, RGB.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    data = _file(frames[0], fmt, save_all=True, append_images=frames[1:])
    with pytest.raises(BadImage, match=r"a\.img: an animated or multi-page image \(2 frames\)"):
        decode(data, "a.img")
