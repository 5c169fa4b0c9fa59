"""The views each test protocol cuts from an image."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2 import functional as F

from reslab.data.transforms import centre_crop
from reslab.errors import OptionError, UnknownNameError
from reslab.evaluate.protocols import make_protocol, prediction_view


def image(h: int, w: int, c: int = 3) -> torch.Tensor:
    return torch.randint(0, 256, (c, h, w), dtype=torch.uint8)


def test_ten_crop_of_an_odd_sized_image_has_ten_views_whose_flips_match() -> None:
    img = image(301, 411)
    p = make_protocol("10crop", 224)
    assert (p.resize, p.crop, p.flip, p.views_per_image) == (256, 224, True, 10)
    (views,) = p.views(img)
    assert views.shape == (10, 3, 224, 224)
    for k in range(5):
        assert torch.equal(views[k + 5], F.horizontal_flip(views[k]))
    assert torch.equal(views[4], centre_crop(256, 224)(img))  # five_crop's last: the centre
    assert len({v.sum().item() for v in views[:5]}) == 5  # five different crops


def test_single_view_is_the_paper_centre_crop_with_optional_flip() -> None:
    img = image(150, 97)
    (one,) = make_protocol("single", 224).views(img)
    assert torch.equal(one[0], centre_crop(256, 224)(img))
    (two,) = make_protocol("single", 224, flip=True).views(img)
    assert two.shape == (2, 3, 224, 224) and torch.equal(two[1], F.horizontal_flip(two[0]))


def test_multiscale_keeps_the_aspect_ratio_of_non_square_images() -> None:
    p = make_protocol("multiscale", 224, flip=True)
    assert p.scales == (224, 256, 384, 480, 640) and p.views_per_image == 10
    groups = p.views(image(100, 150))  # landscape: height is the shorter side
    assert [tuple(g.shape) for g in groups] == [
        (2, 3, s, round(s * 1.5)) for s in (224, 256, 384, 480, 640)
    ]
    for g in groups:
        assert torch.equal(g[1], F.horizontal_flip(g[0]))
    portrait = make_protocol("multiscale", 224).views(image(150, 100))
    assert tuple(portrait[0].shape[1:]) == (3, 336, 224)


def test_sizes_scale_with_the_checkpoint_input_size() -> None:
    p = make_protocol("multiscale", 112)
    assert p.scales == (112, 128, 192, 240, 320)
    assert make_protocol("10crop", 112).resize == 128


def test_cifar_sized_checkpoints_see_the_whole_image_at_their_input_size() -> None:
    p = make_protocol("single", 32, flip=True)
    assert not p.imagenet and p.views_per_image == 2
    img = image(32, 32)
    (views,) = p.views(img)
    assert torch.equal(views[0], img) and torch.equal(views[1], img.flip(-1))
    (odd,) = prediction_view(32).views(image(47, 90, 1))
    assert odd.shape == (1, 1, 32, 32)  # resized, not cropped
    (big,) = prediction_view(72).views(image(97, 131))
    assert big.shape == (1, 3, 72, 72)


@pytest.mark.parametrize("name", ["10crop", "multiscale"])
def test_multi_view_protocols_on_cifar_sized_checkpoints_are_refused(name: str) -> None:
    with pytest.raises(
        OptionError,
        match=f"--protocol {name} is the paper's ImageNet test.*"
        "takes 32x32 inputs.*use --protocol single",
    ):
        make_protocol(name, 32)


def test_unknown_protocol_names_the_choices() -> None:
    with pytest.raises(UnknownNameError, match="unknown protocol '10-crop'; did you mean 10crop"):
        make_protocol("10-crop", 224)
