"""The paper's per-pixel mean and the per-channel alternative."""

from __future__ import annotations

import json

import pytest
import torch

from reslab.data import ImageSet, Normalization
from reslab.data.normalization import channel_stats
from reslab.errors import DataError


@pytest.fixture
def images() -> ImageSet:
    pixels = torch.randint(0, 256, (300, 5, 6, 3), generator=torch.Generator().manual_seed(0))
    return ImageSet(pixels.byte(), torch.zeros(300, dtype=torch.int64), ("a",))


def test_per_pixel_mean_is_the_mean_image_with_unit_std(images: ImageSet) -> None:
    n = Normalization.per_pixel_mean(images)
    assert n.kind == "per_pixel_mean" and n.mean.shape == (3, 5, 6) and n.std.shape == (3, 1, 1)
    expected = images.images.double().mean(0).permute(2, 0, 1) / 255
    assert torch.allclose(n.mean.double(), expected, atol=1e-6)
    assert torch.equal(n.std, torch.ones(3, 1, 1))
    x = n.apply(images.images.permute(0, 3, 1, 2))
    assert x.dtype == torch.float32 and x.mean(0).abs().max() < 1e-5  # centred at every pixel


def test_per_channel_statistics_are_exact(images: ImageSet) -> None:
    n = Normalization.per_channel(images)
    flat = images.images.reshape(-1, 3).double() / 255
    assert n.mean.flatten().tolist() == pytest.approx(flat.mean(0).tolist(), abs=1e-7)
    assert n.std.flatten().tolist() == pytest.approx(flat.std(0, correction=0).tolist(), abs=1e-7)
    x = n.apply(images.images.permute(0, 3, 1, 2))
    assert x.mean((0, 2, 3)).abs().max() < 1e-5
    assert x.std((0, 2, 3), correction=0).sub(1).abs().max() < 1e-5


def test_channel_stats_of_a_grayscale_set() -> None:
    mean, std = channel_stats(torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1))
    assert mean == [0.5] and std == [0.5]


@pytest.mark.parametrize("kind", ["per_pixel_mean", "per_channel"])
def test_round_trip_through_plain_lists(images: ImageSet, kind: str) -> None:
    n = getattr(Normalization, kind)(images)
    d = json.loads(json.dumps(n.to_dict()))
    back = Normalization.from_dict(d)
    assert back.kind == kind and torch.equal(back.mean, n.mean) and torch.equal(back.std, n.std)


def test_channel_mean_only() -> None:
    n = Normalization.from_channel_stats([0.5, 0.25, 0.0])
    assert n.kind == "per_channel_mean" and torch.equal(n.std, torch.ones(3, 1, 1))
    x = n.apply(torch.full((1, 3, 2, 2), 255, dtype=torch.uint8))
    assert x[0, :, 0, 0].tolist() == [0.5, 0.75, 1.0]


def test_malformed_records_and_sizes_are_errors(images: ImageSet) -> None:
    with pytest.raises(DataError, match="normalization record is malformed"):
        Normalization.from_dict({"kind": "per_channel", "mean": [0.5]})
    with pytest.raises(DataError, match="kind 'zca'"):
        Normalization.from_dict({"kind": "zca", "mean": [[[0.5]]], "std": [[[1.0]]]})
    n = Normalization.per_pixel_mean(images)
    with pytest.raises(DataError, match=r"per-pixel mean of \(5, 6\) images cannot normalise"):
        n.apply(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
