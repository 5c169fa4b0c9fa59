"""The paper's ImageNet train/test transforms and the batched CIFAR augmentation."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2 import functional as F

from reslab.data import transforms
from reslab.data.transforms import (
    PCA_EIGVAL,
    PCA_EIGVEC,
    ScaleAugment,
    centre_crop,
    multiscale_views,
    pad_crop_flip,
    pca_basis,
    ten_crop,
)
from reslab.errors import OptionError


def image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (3, h, w), generator=torch.Generator().manual_seed(seed)).byte()


def test_scale_augmentation_draws_the_shorter_side_from_256_to_480(monkeypatch) -> None:
    sizes = []
    resize = transforms.resize_shorter
    monkeypatch.setattr(
        transforms, "resize_shorter", lambda img, size: sizes.append(size) or resize(img, size)
    )
    aug, img = ScaleAugment(), image(300, 400)
    outs = [aug(img, torch.Generator().manual_seed(s)) for s in range(40)]
    assert all(o.shape == (3, 224, 224) and o.dtype == torch.uint8 for o in outs)
    assert min(sizes) >= 256 and max(sizes) <= 480 and len(set(sizes)) > 20
    assert torch.equal(aug(img, torch.Generator().manual_seed(3)), outs[3])  # seeded


def test_scale_augmentation_flips_half_the_time() -> None:
    img, aug = image(16, 16), ScaleAugment(scale=(16, 16), crop=16)
    outs = [aug(img, torch.Generator().manual_seed(s)) for s in range(200)]
    flipped = [torch.equal(o, F.horizontal_flip(img)) for o in outs]
    assert all(f or torch.equal(o, img) for f, o in zip(flipped, outs, strict=True))
    assert 0.38 < sum(flipped) / 200 < 0.62


def test_scale_augmentation_checks_its_range() -> None:
    with pytest.raises(OptionError, match="crop <= min scale <= max scale"):
        ScaleAugment(scale=(200, 480))


@pytest.mark.parametrize(("h", "w"), [(256, 256), (300, 500), (600, 280)])
def test_ten_crop_is_five_crops_and_their_mirrors(h: int, w: int) -> None:
    img = image(h, w)
    views = ten_crop()(img)
    assert views.shape == (10, 3, 224, 224)
    for k in range(5):
        assert torch.equal(views[k + 5], views[k].flip(-1))
    resized = transforms.resize_shorter(img, 256)
    rh, rw = resized.shape[1:]
    assert min(rh, rw) == 256
    assert torch.equal(views[0], resized[:, :224, :224])  # top left
    assert torch.equal(views[3], resized[:, rh - 224 :, rw - 224 :])  # bottom right
    assert torch.equal(views[4], centre_crop()(img))


def test_multiscale_views_keep_the_aspect_ratio() -> None:
    views = multiscale_views(image(300, 450))
    assert len(views) == 10
    shapes = [tuple(v.shape[1:]) for v in views[::2]]
    assert shapes == [(224, 336), (256, 384), (384, 576), (480, 720), (640, 960)]
    for plain, mirrored in zip(views[::2], views[1::2], strict=True):
        assert torch.equal(mirrored, plain.flip(-1))
    assert len(multiscale_views(image(300, 450), scales=(224,), flip=False)) == 1


def test_test_crops_larger_than_the_resize_are_refused() -> None:
    with pytest.raises(OptionError, match="crop 300 is larger than the resized shorter side 256"):
        ten_crop(256, 300)


def test_pca_basis_gives_alexnets_colour_offsets() -> None:
    alpha = torch.tensor([[0.1, -0.2, 0.3], [0.0, 0.0, 0.0]])
    out = alpha @ pca_basis()  # (B, 3) RGB offsets, as StreamingLoader adds them
    expected = torch.tensor(PCA_EIGVEC) @ (alpha[0] * torch.tensor(PCA_EIGVAL))
    assert torch.allclose(out[0], expected) and torch.equal(out[1], torch.zeros(3))


def test_pad_crop_flip_matches_a_per_sample_reference() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, 10, 12, generator=g)
    params = torch.cat(
        [torch.randint(0, 9, (16, 2), generator=g), torch.randint(0, 2, (16, 1), generator=g)], 1
    )
    out = pad_crop_flip(x, params, pad=4)
    for i in range(16):
        dy, dx, flip = params[i].tolist()
        ref = torch.nn.functional.pad(x[i], (4, 4, 4, 4))[:, dy : dy + 10, dx : dx + 12]
        assert torch.equal(out[i], ref.flip(-1) if flip else ref)
