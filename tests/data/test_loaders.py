"""DeviceLoader and StreamingLoader: the batch contract the trainer relies on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from reslab.data import (
    DataWarning,
    DeviceLoader,
    ImageSet,
    LoaderSpec,
    Normalization,
    StreamingLoader,
    make_loaders,
    open_source,
)
from reslab.errors import DataError, OptionError

from .conftest import folder_files, write_folder

# x = pixel value exactly: mean 0, std 1/255.
IDENTITY = Normalization(torch.zeros(3, 1, 1), torch.full((3, 1, 1), 1 / 255), "per_channel")


def coordinates(n: int) -> ImageSet:
    """32x32 images whose R channel is row + 1 and G is column + 1 (0 only in padding);
    label i for image i, so that y tells which image a sample is."""
    rows, cols = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    one = torch.stack([rows + 1, cols + 1, torch.full_like(rows, 7)], -1).byte()
    return ImageSet(one.expand(n, -1, -1, -1).clone(), torch.arange(n), tuple(map(str, range(n))))


def loader(data: ImageSet, **kw) -> DeviceLoader:
    options = {"batch_size": 32, "train": True, "normalization": IDENTITY, "seed": 0, **kw}
    return DeviceLoader(data, **options)


def collect(batches) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*batches, strict=True)
    return torch.cat(xs), torch.cat(ys)


def test_training_batches_are_a_fresh_permutation_each_epoch() -> None:
    data = coordinates(100)
    ld = loader(data)
    assert len(ld) == 3  # 100 // 32: the last partial batch is dropped
    batches = list(ld.batches(0))
    assert all(x.shape == (32, 3, 32, 32) and x.dtype == torch.float32 for x, _ in batches)
    assert all(y.shape == (32,) and y.dtype == torch.int64 for _, y in batches)
    y0 = collect(ld.batches(0))[1]
    assert len(set(y0.tolist())) == 96  # without replacement
    assert not torch.equal(y0, collect(ld.batches(1))[1])
    assert torch.equal(y0, collect(loader(data).batches(0))[1])  # a function of the seed
    assert not torch.equal(y0, collect(loader(data, seed=1).batches(0))[1])


def test_a_batch_is_a_pure_function_of_its_position() -> None:
    ld = loader(coordinates(200))
    whole = list(ld.batches(3))
    resumed = list(loader(coordinates(200)).batches(3, start=4))
    assert len(resumed) == len(whole) - 4
    for (xa, ya), (xb, yb) in zip(whole[4:], resumed, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert list(ld.batches(3, start=len(ld))) == []
    with pytest.raises(OptionError, match=r"0 <= start <= 6"):
        next(ld.batches(0, start=7))


@pytest.mark.parametrize("world_size", [2, 4])
def test_ranks_split_every_global_batch(world_size: int) -> None:
    data = coordinates(100)
    one = list(loader(data).batches(2))
    ranks = [
        list(loader(data, rank=r, world_size=world_size).batches(2)) for r in range(world_size)
    ]
    for b, (x, y) in enumerate(one):
        xs, ys = zip(*(ranks[r][b] for r in range(world_size)), strict=True)
        assert torch.equal(torch.cat(ys), y) and torch.equal(torch.cat(xs), x)
        assert xs[0].shape[0] == 32 // world_size


def test_bad_batch_sizes_are_option_errors() -> None:
    with pytest.raises(
        OptionError, match="global batch_size 32 must be divisible by the world size 3"
    ):
        loader(coordinates(100), world_size=3)
    with pytest.raises(OptionError, match="batch_size 128 exceeds the 100 training images"):
        loader(coordinates(100), batch_size=128)
    with pytest.raises(OptionError, match=r"rank must be in 0\.\.1; got 2"):
        loader(coordinates(100), rank=2, world_size=2)


@pytest.mark.parametrize("world_size", [1, 3])
def test_evaluation_shards_cover_the_split_exactly_once(world_size: int) -> None:
    data = coordinates(70)
    shards = [
        loader(data, train=False, batch_size=16, rank=r, world_size=world_size)
        for r in range(world_size)
    ]
    ys = [collect(s.batches(0))[1] for s in shards]
    assert torch.equal(torch.cat(ys), torch.arange(70))  # in order, no padding, no duplicates
    assert [len(y) for y in ys] == ([70] if world_size == 1 else [23, 23, 24])
    assert len(shards[0]) == (5 if world_size == 1 else 2)  # the last partial batch is kept
    x, _ = collect(shards[0].batches(0))
    assert torch.equal(x.round().byte(), data.images[: len(x)].permute(0, 3, 1, 2))  # as is


def _decode_augmentation(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dy, dx, flipped) per sample from coordinate images, checking each is one rigid
    shift within +-4 px (or a mirrored one) with exact zeros wherever the source is outside."""
    r = torch.arange(32).view(1, 32, 1).expand(len(x), 32, 32)
    c = torch.arange(32).view(1, 1, 32).expand(len(x), 32, 32)
    src_r, src_c = x[:, 0] - 1, x[:, 1] - 1  # -1 in the padding
    inside = src_r >= 0
    assert torch.equal(inside, src_c >= 0)
    assert (x.permute(1, 0, 2, 3)[:, ~inside] == 0).all()  # padding is zeros, all channels
    dy, dx, flipped = [], [], []
    for i in range(len(x)):
        m = inside[i]
        shift_r = (src_r[i] - r[i])[m].unique()
        plain, mirror = (src_c[i] - c[i])[m].unique(), (src_c[i] + c[i])[m].unique()
        assert len(shift_r) == 1 and (len(plain) == 1 or len(mirror) == 1)
        dy.append(int(shift_r))
        flipped.append(len(plain) != 1)
        dx.append(int(plain) if len(plain) == 1 else int(mirror) - 31)
        # The source covers exactly the rows and columns it should.
        assert int(m.sum()) == (32 - abs(dy[-1])) * (32 - abs(dx[-1]))
    return torch.tensor(dy), torch.tensor(dx), torch.tensor(flipped)


def test_augmentation_pads_crops_and_flips_each_sample() -> None:
    x, _ = collect(loader(coordinates(1024), batch_size=256).batches(0))
    x = x.round()
    dy, dx, flipped = _decode_augmentation(x)
    assert dy.abs().max() <= 4 and dx.abs().max() <= 4
    assert set(dy.tolist()) == set(range(-4, 5)) == set(dx.tolist())  # every offset happens
    assert abs(flipped.float().mean().item() - 0.5) < 0.06
    assert (dy == 0).logical_and(dx == 0).logical_and(~flipped).sum() < 40  # ~1024 / 18


def test_padding_is_zero_after_normalisation() -> None:
    data = coordinates(64)
    plain = collect(loader(data).batches(0))[0]
    centred = Normalization.per_pixel_mean(data)
    x = collect(loader(data, normalization=centred).batches(0))[0]
    pad = plain[:, 0] == 0
    assert pad.any() and (x.permute(1, 0, 2, 3)[:, pad] == 0).all()


def test_black_padding_is_black_before_normalisation() -> None:
    """pad_value="black" pads the pixels with 0 and normalises the crop (torchvision-style);
    "mean" (default) pads the normalised image with 0. With per-channel statistics the
    image pixels are the same either way: only the padding differs."""
    data = coordinates(64)
    pad = collect(loader(data).batches(0))[0][:, 0] == 0  # (N, H, W): where padding landed
    mean, std = torch.tensor([0.5, 0.4, 0.3]), torch.tensor([0.2, 0.25, 0.5])
    norm = Normalization.from_channel_stats(mean.tolist(), std.tolist())
    as_mean = collect(loader(data, normalization=norm).batches(0))[0].permute(1, 0, 2, 3)
    black = collect(loader(data, normalization=norm, pad_value="black").batches(0))[0]
    black = black.permute(1, 0, 2, 3)  # (C, N, H, W)
    assert pad.any() and (as_mean[:, pad] == 0).all()
    torch.testing.assert_close(black[:, pad], (-mean / std)[:, None].expand(3, int(pad.sum())))
    torch.testing.assert_close(black[:, ~pad], as_mean[:, ~pad])
    with pytest.raises(OptionError, match="pad_value must be one of 'mean', 'black'"):
        loader(data, pad_value="grey")


def test_no_augmentation_when_asked_or_when_evaluating() -> None:
    data = coordinates(64)
    for ld in (loader(data, augment=False), loader(data, train=False)):
        x, y = collect(ld.batches(0))
        assert torch.equal(x.round().byte(), data.images[y].permute(0, 3, 1, 2))


def test_channels_last() -> None:
    x, _ = next(loader(coordinates(64), channels_last=True).batches(0))
    assert x.is_contiguous(memory_format=torch.channels_last)


# --- make_loaders on small images ---------------------------------------------------------


def test_make_loaders_small(small_folder: Path, data_root: Path) -> None:
    source = open_source(small_folder, root=data_root)
    spec = LoaderSpec(4, seed=1, val_split=3, normalization_kind="per_channel", eval_batch_size=5)
    loaders = make_loaders(source, spec)
    assert loaders.train_images == 15 and len(loaders.train) == 3
    assert len(loaders.val) == 1 and len(loaders.test) == 2
    assert loaders.classes == ("ant", "bee", "cat") and loaders.input_size == 8
    assert loaders.in_chans == 3 and loaders.normalization.kind == "per_channel"
    assert loaders.skipped is source.skipped
    d = loaders.description
    assert (d["train_images"], d["val_images"], d["test_images"]) == (15, 3, 6)
    assert d["format"] == "image-folder" and d["loader"] == "device"
    sub = make_loaders(source, LoaderSpec(3, train_subset_per_class=2, test_subset_per_class=1))
    assert sub.train_images == 6 and sub.description["test_images"] == 3
    with pytest.raises(OptionError, match="normalization_kind must be one of"):
        LoaderSpec(4, normalization_kind="zca")


# --- streaming (large images) -------------------------------------------------------------


@pytest.fixture
def large_folder(tmp_path: Path) -> Path:
    files = folder_files({"train": 4, "val": 1}, size=(240, 300), fmt="JPEG")
    files.update(folder_files({"train": 1}, size=(320, 250), seed=1))  # one more, portrait
    return write_folder(tmp_path / "large", files)


def streaming(source, split: str = "train", **kw) -> StreamingLoader:
    norm = Normalization.from_channel_stats(source.large_stats()["mean"])
    options = {"batch_size": 4, "train": True, "normalization": norm, "workers": 0, **kw}
    return StreamingLoader(source, split, **options)


def test_streaming_training_batches(large_folder: Path, data_root: Path) -> None:
    source = open_source(large_folder, root=data_root)
    ld = streaming(source)
    assert len(ld) == 3  # 15 images
    batches = list(ld.batches(0))
    assert [tuple(x.shape) for x, _ in batches] == [(4, 3, 224, 224)] * 3
    again = list(streaming(source).batches(0, start=1))
    for (xa, ya), (xb, yb) in zip(batches[1:], again, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    other = list(ld.batches(1))
    assert not torch.equal(batches[0][0], other[0][0])


def test_colour_augmentation_shifts_each_image_by_one_colour(large_folder, data_root) -> None:
    source = open_source(large_folder, root=data_root)
    plain = next(streaming(source, color_pca=False).batches(0))[0]
    shifted = next(streaming(source).batches(0))[0]
    shift = shifted - plain  # (B, 3, 224, 224), constant over each image and channel
    per_image = shift[:, :, :1, :1]
    assert torch.allclose(shift, per_image.expand_as(shift), atol=1e-5)
    assert 0 < per_image.abs().max() < 0.5


def test_streaming_is_the_same_with_workers_and_ranks(large_folder, data_root) -> None:
    source = open_source(large_folder, root=data_root)
    one = list(streaming(source).batches(0))
    two = list(streaming(source, workers=2).batches(0))
    half = [list(streaming(source, rank=r, world_size=2).batches(0)) for r in range(2)]
    for b, (x, y) in enumerate(one):
        assert torch.equal(two[b][0], x) and torch.equal(two[b][1], y)
        assert torch.equal(torch.cat([half[0][b][0], half[1][b][0]]), x)


def test_streaming_evaluation_is_the_centre_crop(large_folder, data_root) -> None:
    source = open_source(large_folder, root=data_root)
    ld = streaming(source, "val", train=False, batch_size=2, color_pca=False)
    x, y = collect(ld.batches(0))
    assert x.shape == (3, 3, 224, 224) and y.tolist() == [0, 1, 2]
    from reslab.data import read_image
    from reslab.data.transforms import centre_crop

    first = centre_crop()(read_image(large_folder / "val/ant/000.jpeg"))
    assert torch.allclose(x[0], ld.normalization.apply(first[None])[0])


def test_streaming_bad_files_fail_or_are_dropped(large_folder, data_root) -> None:
    (large_folder / "val/bee/000.jpeg").write_bytes(b"\xff\xd8\xff broken")
    ld = streaming(open_source(large_folder, root=data_root), "val", train=False)
    with pytest.raises(DataError, match=r"val/bee/000.jpeg: not a readable image"):
        list(ld.batches(0))
    source = open_source(large_folder, root=data_root, skip_bad=True)
    with pytest.warns(DataWarning, match="skipped 1 unreadable image of"):
        _, y = collect(streaming(source, "val", train=False).batches(0))
    assert y.tolist() == [0, 2] and source.skipped == [str(large_folder / "val/bee/000.jpeg")]


def test_make_loaders_large(large_folder: Path, data_root: Path) -> None:
    source = open_source(large_folder, root=data_root)
    loaders = make_loaders(source, LoaderSpec(2, val_split=3, workers=0))
    # The paper's per-pixel mean becomes a per-channel mean on images of varying size.
    assert loaders.normalization.kind == "per_channel_mean"
    assert loaders.input_size == 224 and loaders.train_images == 12 and len(loaders.val) == 2
    assert loaders.description["loader"] == "streaming"
    x, _ = next(loaders.train.batches(0))
    assert x.shape == (2, 3, 224, 224)
    stats = np.asarray(source.large_stats()["mean"])
    assert ((stats > 0.1) & (stats < 0.9)).all()
