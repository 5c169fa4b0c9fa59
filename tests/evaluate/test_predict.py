"""Prediction on real JPEGs and on grayscale, RGBA, odd-sized and corrupt files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reslab.checkpoint import load_checkpoint
from reslab.data import Normalization, read_image
from reslab.device import autocast
from reslab.errors import OptionError
from reslab.evaluate.loading import eval_precision
from reslab.evaluate.predict import expand_inputs, predict
from reslab.models import model_from_checkpoint

from .conftest import write_odd_images


def test_real_jpegs_get_the_model_s_own_probabilities(real_run: Path, real_jpegs) -> None:
    results, failures = predict(real_run, real_jpegs, topk=3, batch_size=4, device="cpu")
    assert failures == [] and [r["file"] for r in results] == list(map(str, real_jpegs))
    ckpt = load_checkpoint(real_run)
    model = model_from_checkpoint(ckpt).eval()
    norm = Normalization.from_dict(ckpt["normalization"])  # the run's per-pixel mean image
    x = norm.apply(torch.stack([read_image(f) for f in real_jpegs]))
    with torch.no_grad(), autocast(torch.device("cpu"), eval_precision(ckpt)):  # the run's: bf16
        probs = model(x).float().softmax(1)
    for r, p in zip(results, probs, strict=True):
        assert len(r["top"]) == 3
        best = r["top"][0]
        assert best["index"] == int(p.argmax()) and best["class"] == ckpt["classes"][best["index"]]
        assert best["probability"] == pytest.approx(float(p.max()), rel=1e-5)
        assert [t["probability"] for t in r["top"]] == sorted(
            (t["probability"] for t in r["top"]), reverse=True
        )


def test_odd_files_are_converted_and_a_corrupt_one_is_named(real_run: Path, tmp_path) -> None:
    files = write_odd_images(tmp_path / "imgs")
    results, failures = predict(real_run, [tmp_path / "imgs"], topk=20, device="cpu")
    assert sorted(Path(r["file"]).name for r in results) == ["gray.png", "odd.jpg", "rgba.png"]
    assert all(len(r["top"]) == 10 for r in results)  # topk clipped to the 10 classes
    assert all(sum(t["probability"] for t in r["top"]) == pytest.approx(1.0) for r in results)
    assert [f.file for f in failures] == [str(files["corrupt"])]
    assert "corrupt.jpg: not a readable image" in failures[0].error


def test_inputs_expand_folders_and_report_missing_paths(tmp_path: Path) -> None:
    files = write_odd_images(tmp_path / "imgs")
    (tmp_path / "imgs" / "notes.txt").write_text("not an image suffix")
    (tmp_path / "empty").mkdir()
    found, failures = expand_inputs([tmp_path / "imgs", tmp_path / "nope.jpg", tmp_path / "empty"])
    assert found == sorted(files.values())
    assert [f.error for f in failures] == [
        f"{tmp_path / 'nope.jpg'}: no such file or folder",
        f"{tmp_path / 'empty'}: a folder without image files",
    ]


def test_imagenet_style_checkpoint_predicts_odd_sized_images(
    large_checkpoint: Path, tmp_path: Path
) -> None:
    files = write_odd_images(tmp_path / "imgs")
    results, failures = predict(large_checkpoint, [files["odd"], files["gray"]], device="cpu")
    assert len(results) == 2 and failures == []
    assert {t["class"] for r in results for t in r["top"]} <= {f"class_{i}" for i in range(4)}


def test_bad_topk(real_run: Path, real_jpegs) -> None:
    with pytest.raises(OptionError, match="--topk must be at least 1; got 0"):
        predict(real_run, real_jpegs, topk=0, device="cpu")
