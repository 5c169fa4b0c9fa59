"""reslab eval, predict and recalibrate-bn from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from reslab.checkpoint import load_checkpoint

from ..conftest import REAL_TEST_PER_CLASS
from ..evaluate.conftest import write_large_folder, write_odd_images


def test_eval_prints_a_table_and_writes_eval_json(cli, real_run: Path, real_source, tmp_path):
    args = [
        "eval",
        str(real_run),
        "--data",
        str(real_source.path),
        "--root",
        str(real_source.root),
        "--subset-per-class",
        str(REAL_TEST_PER_CLASS),
        "--workers",
        "0",
        "--flip",
        "--out",
        str(tmp_path / "e"),
    ]
    code, out, err = cli(*args, "--per-class")
    assert code == 0, err
    assert "top-1 error" in out and "single + flips" in out and "per-class accuracy" in out
    assert "airplane" in out
    assert f"evaluating the final weights: {real_run / 'checkpoints' / 'final.pt'}" in err
    saved = json.loads((tmp_path / "e" / "eval.json").read_text())
    code, out, _ = cli(*args, "--json")
    assert code == 0
    record = json.loads(out)
    assert record["out"] == str(tmp_path / "e")
    assert record["top1_err"] == saved["top1_err"] and record["protocol"]["flip"] is True


def test_ten_crop_on_an_imagenet_style_folder(cli, make_checkpoint, tmp_path: Path) -> None:
    ckpt = make_checkpoint("resnet20", input_size=72, num_classes=4)
    folder = write_large_folder(tmp_path / "large")
    code, out, err = cli(
        "eval",
        str(ckpt),
        "--data",
        str(folder),
        "--protocol",
        "10crop",
        "--workers",
        "0",
        "--root",
        str(tmp_path / "root"),
        "--json",
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["protocol"]["views_per_image"] == 10 and record["images"] == 4
    assert Path(record["out"], "confusion.png").is_file()


def test_eval_mistakes_are_one_line_errors(cli, real_run: Path, real_source, tmp_path) -> None:
    data = ["--data", str(real_source.path), "--root", str(real_source.root)]
    code, _, err = cli("eval", str(real_run), *data, "--protocol", "multiscale")
    assert code == 2 and "reslab: error: --protocol multiscale is the paper's ImageNet" in err
    code, _, err = cli("eval", str(real_run), *data, "--protocol", "5crop")
    assert code == 2 and "unknown protocol '5crop'" in err
    code, _, err = cli("eval", str(tmp_path / "missing"), *data)
    assert code == 2 and "no such checkpoint file or run directory" in err
    not_ckpt = tmp_path / "image.pt"
    not_ckpt.write_bytes(b"\x89PNG\r\n\x1a\n")
    code, _, err = cli("eval", str(not_ckpt), *data)
    assert code == 2 and "image.pt: not a readable checkpoint" in err
    code, _, err = cli("eval", str(real_run), *data, "--out", str(not_ckpt))
    assert code == 2 and "image.pt: a file is in the way" in err
    assert "Traceback" not in err


def test_predict_names_the_corrupt_file_and_predicts_the_rest(
    cli, real_run: Path, real_jpegs, tmp_path: Path
) -> None:
    files = write_odd_images(tmp_path / "imgs")
    inputs = [str(f) for f in (files["gray"], files["rgba"], files["corrupt"], files["odd"])]
    code, out, err = cli(
        "predict",
        str(real_run),
        *inputs,
        str(real_jpegs[0]),
        "--json",
        "--topk",
        "2",
        "--batch-size",
        "2",
        "--device",
        "cpu",
    )
    assert code == 1
    results = json.loads(out)
    assert [r["file"] for r in results] == [*inputs[:2], inputs[3], str(real_jpegs[0])]
    assert all(len(r["top"]) == 2 for r in results)
    assert f"reslab: error: {files['corrupt']}: not a readable image" in err
    assert "1 of 5 inputs could not be predicted" in err

    code, out, err = cli("predict", str(real_run), str(real_jpegs[0]), "--device", "cpu")
    assert code == 0 and err == ""
    assert "probability" in out and real_jpegs[0].name in out


def test_predict_with_a_foreign_checkpoint(cli, real_jpegs, tmp_path: Path) -> None:
    foreign = tmp_path / "weights.pt"
    torch.save({"conv1.weight": torch.zeros(1)}, foreign)
    code, _, err = cli("predict", str(foreign), str(real_jpegs[0]))
    assert code == 2 and "weights.pt: not a reslab checkpoint" in err


def test_recalibrate_bn_reports_before_and_after(cli, real_run: Path, real_source, tmp_path):
    out_file = tmp_path / "recal.pt"
    args = [
        "recalibrate-bn",
        str(real_run),
        "--data",
        str(real_source.path),
        "--root",
        str(real_source.root),
        "--batches",
        "2",
        "--batch-size",
        "16",
        "--device",
        "cpu",
        "--test-subset-per-class",
        "1",
        "--out",
        str(out_file),
    ]
    code, out, err = cli(*args)
    assert code == 0, err
    assert "BN statistics recomputed over 2 batches of 16" in out
    assert "before" in out and "after" in out and str(out_file) in out
    assert load_checkpoint(out_file)["bn_recalibration"]["batches"] == 2
    code, _, err = cli(*args)  # again: the file exists now
    assert code == 2 and "recal.pt exists; pass --overwrite" in err
    code, _, err = cli(*args[:-1], str(real_run / "checkpoints" / "final.pt"))
    assert code == 2 and "is the input checkpoint" in err
