"""The real CIFAR-10 JPEG copy (../shared/data): counts, channel means, cache, inspect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from reslab.data import LoaderSpec, make_loaders, open_source
from reslab.data.imageset import split_indices
from reslab.data.sources import FolderSource, TarFiles

CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MEANS = (0.491, 0.482, 0.447)  # the official CIFAR-10 training means, which the copy keeps


def test_counts_classes_and_means(real_source) -> None:
    assert real_source.format == "image-folder-tar" and real_source.small
    assert real_source.classes == CIFAR10 and real_source.test_split == "test"
    train, test = real_source.load("train"), real_source.load("test")
    assert train.images.shape == (50_000, 32, 32, 3) and train.images.dtype == torch.uint8
    assert test.images.shape == (10_000, 32, 32, 3)
    assert train.counts() == [5000] * 10 and test.counts() == [1000] * 10
    mean = train.images.float().mean((0, 1, 2)) / 255
    assert mean.tolist() == pytest.approx(MEANS, abs=1e-3)


def test_a_second_open_reads_the_cache(real_source, monkeypatch) -> None:
    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(FolderSource, "_decode_all", no_decoding)
    monkeypatch.setattr(TarFiles, "listing", no_decoding)
    again = open_source(real_source.path, root=real_source.root)
    assert torch.equal(again.load("test").images, real_source.load("test").images)


def test_make_loaders_on_the_real_data(real_source) -> None:
    loaders = make_loaders(real_source, LoaderSpec(128, seed=0, val_split=5000))
    assert loaders.train_images == 45_000 and len(loaders.train) == 45_000 // 128
    # The paper's 45k/5k split: balanced, fixed, and what the validation loader holds.
    labels = real_source.load("train").labels
    kept, held = split_indices(labels, 5000, real_source.classes)
    assert torch.bincount(labels[held]).tolist() == [500] * 10
    assert torch.bincount(labels[kept]).tolist() == [4500] * 10
    assert torch.equal(loaders.val.labels, labels[held])
    assert torch.equal(split_indices(labels, 5000, real_source.classes)[1], held)
    assert loaders.input_size == 32 and loaders.in_chans == 3
    assert loaders.normalization.mean.shape == (3, 32, 32)
    assert loaders.description["test_images"] == 10_000
    x, y = next(loaders.train.batches(0))
    assert x.shape == (128, 3, 32, 32) and y.shape == (128,)


def test_inspect_json_reports_counts_and_means(real_source, cli, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.png"
    code, out, err = cli(
        "data",
        "inspect",
        str(real_source.path),
        "--json",
        "--root",
        str(real_source.root),
        "--samples",
        str(sheet),
    )
    assert code == 0, err
    info = json.loads(out)
    assert info["format"] == "image-folder-tar" and info["classes"] == list(CIFAR10)
    assert info["splits"]["train"]["images"] == 50_000
    assert info["splits"]["test"]["per_class"] == dict.fromkeys(CIFAR10, 1000)
    assert info["image"] == {"size": [32, 32], "mode": "RGB"}
    assert info["train_channel_mean"] == pytest.approx(MEANS, abs=1e-3)
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
