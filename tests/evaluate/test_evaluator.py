"""Evaluation on real data, the ImageNet-style protocols on odd-sized images, eval.json."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from reslab.checkpoint import load_checkpoint, save_atomic
from reslab.data import Normalization, open_source, read_image
from reslab.errors import CheckpointError, DataError, OptionError, UnknownNameError
from reslab.evaluate.evaluator import evaluate_checkpoint
from reslab.evaluate.protocols import make_protocol
from reslab.models import model_from_checkpoint

from ..conftest import REAL_TEST_PER_CLASS
from .conftest import LARGE_CLASSES, LARGE_SIZE, write_large_folder


def test_eval_reproduces_the_trainer_on_real_cifar10(real_run: Path, real_source) -> None:
    record = evaluate_checkpoint(
        real_run,
        real_source.path,
        root=real_source.root,
        batch_size=32,
        workers=0,
        subset_per_class=REAL_TEST_PER_CLASS,
    )
    summary = json.loads((real_run / "summary.json").read_text())
    assert record["images"] == 100
    assert record["top1_err"] == pytest.approx(summary["test_top1_err"])
    assert record["top5_err"] == pytest.approx(summary["test_top5_err"])
    assert record["loss"] == pytest.approx(summary["test_loss"], abs=1e-4)
    assert record["precision"] == "bf16"  # the run's own, as the trainer tested it

    out = real_run / "eval" / "final-cifar10-jpeg-single-subset10"  # the documented default
    assert record["out"] == str(out)
    saved = json.loads((out / "eval.json").read_text())
    assert saved == {k: v for k, v in record.items() if k != "out"}
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    p = saved["protocol"]
    assert (p["name"], p["flip"], p["views_per_image"], p["crop"]) == ("single", False, 1, None)
    assert p["resize_whole_image"] == [32, 32]
    assert p["normalization"]["kind"] == "per_pixel_mean" and p["normalization"]["per_pixel"]
    assert saved["checkpoint"]["path"] == str(real_run / "checkpoints" / "final.pt")
    assert saved["checkpoint"]["iteration"] == 20
    assert saved["data"]["name"] == "cifar10-jpeg" and saved["data"]["split"] == "test"
    matrix = torch.tensor(saved["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 100
    assert (matrix.sum(1) == REAL_TEST_PER_CLASS).all()
    assert list(saved["per_class_accuracy"]) == list(real_source.classes)
    correct = sum(a for a in saved["per_class_accuracy"].values()) * REAL_TEST_PER_CLASS / 100
    assert round(correct) == 100 - round(saved["top1_err"])


def test_every_option_that_changes_the_numbers_names_its_folder(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from reslab.evaluate.evaluator import default_out_dir

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("{}")
    ckpt = run / "checkpoints" / "best.pt"
    source = SimpleNamespace(name="cifar10", test_split="test")
    single, flip = make_protocol("single", 32), make_protocol("single", 32, flip=True)
    names = {
        default_out_dir(run, ckpt, source, single, split="test").name,
        default_out_dir(run, ckpt, source, flip, split="test").name,
        default_out_dir(run, ckpt, source, single, split="test", subset_per_class=20).name,
        default_out_dir(run, ckpt, source, single, split="val").name,
        default_out_dir(run, ckpt, source, single, split="test", skip_bad=True).name,
        default_out_dir(run, ckpt, source, single, split="test", precision="fp32").name,
    }
    assert names == {
        "best-cifar10-single",
        "best-cifar10-single-flip",
        "best-cifar10-single-subset20",
        "best-cifar10-val-single",
        "best-cifar10-single-skip-bad",
        "best-cifar10-single-fp32",
    }
    assert default_out_dir(run, ckpt, source, single).parent == run / "eval"


def test_eval_precision_is_the_trained_one_unless_asked() -> None:
    from reslab.errors import OptionError
    from reslab.evaluate.loading import eval_precision

    def ckpt(precision):
        return {"config": {"run": {"precision": precision}}}

    assert eval_precision(ckpt("bf16")) == "bf16"
    assert eval_precision(ckpt("fp32")) == "fp32"
    assert eval_precision(ckpt("auto")) == "fp32"  # recorded before the choice was concrete
    assert eval_precision({"config": {}}) == "fp32"  # foreign weights
    assert eval_precision(ckpt("bf16"), "fp32") == "fp32"
    with pytest.raises(OptionError, match="--precision must be one of auto, fp32, bf16, fp16"):
        eval_precision(ckpt("bf16"), "fp8")


def test_the_confusion_title_names_protocol_flip_and_data() -> None:
    from reslab.evaluate.evaluator import protocol_title

    record = {
        "protocol": {"name": "single", "flip": True},
        "data": {"name": "cifar10", "split": "test", "subset_per_class": 20},
        "checkpoint": {"model": {"name": "resnet20"}},
    }
    assert protocol_title(record) == "resnet20, single + flip, cifar10 test (20 per class)"
    record["protocol"], record["data"]["subset_per_class"] = {"name": "10crop", "flip": True}, None
    assert protocol_title(record) == "resnet20, 10crop, cifar10 test"


def test_flip_averaging_changes_the_scores(real_run: Path, real_source, tmp_path: Path) -> None:
    record = evaluate_checkpoint(
        real_run,
        real_source.path,
        root=real_source.root,
        flip=True,
        workers=0,
        subset_per_class=2,
        out=tmp_path / "flip",
    )
    assert record["protocol"]["views_per_image"] == 2 and record["images"] == 20
    plain = evaluate_checkpoint(
        real_run,
        real_source.path,
        root=real_source.root,
        workers=0,
        subset_per_class=2,
        out=tmp_path / "plain",
    )
    assert record["loss"] != plain["loss"]
    assert (tmp_path / "flip" / "eval.json").is_file()


def expected_loss(ckpt_path: Path, folder: Path, protocol: str, flip: bool = False) -> float:
    """By hand: each test image's softmax averaged over its views, one view at a time."""
    ckpt = load_checkpoint(ckpt_path)
    model = model_from_checkpoint(ckpt).eval()
    norm = Normalization.from_dict(ckpt["normalization"])
    p = make_protocol(protocol, ckpt["input_size"], flip=flip)
    losses = []
    for label, name in enumerate(LARGE_CLASSES):
        for file in sorted((folder / "test" / name).iterdir()):
            views = [v for group in p.views(read_image(file)) for v in group]
            assert len(views) == p.views_per_image
            with torch.no_grad():
                probs = [model(norm.apply(v[None])).softmax(1)[0] for v in views]
            losses.append(-math.log(torch.stack(probs).mean(0)[label].item()))
    return sum(losses) / len(losses)


@pytest.mark.parametrize(
    ("protocol", "flip"), [("single", True), ("10crop", False), ("multiscale", True)]
)
def test_imagenet_protocols_average_softmax_over_views_of_odd_sized_images(
    large_checkpoint: Path, large_folder: Path, tmp_path: Path, protocol: str, flip: bool
) -> None:
    record = evaluate_checkpoint(
        large_checkpoint,
        large_folder,
        protocol=protocol,
        flip=flip,
        batch_size=3,
        workers=0,
        root=tmp_path / "root",
        device="cpu",
    )
    assert record["images"] == 4
    assert record["loss"] == pytest.approx(
        expected_loss(large_checkpoint, large_folder, protocol, flip), rel=1e-4
    )
    p = record["protocol"]
    if protocol == "multiscale":
        assert p["scales"] == [round(s * LARGE_SIZE / 224) for s in (224, 256, 384, 480, 640)]
    else:
        assert (p["resize"], p["crop"]) == (round(256 * LARGE_SIZE / 224), LARGE_SIZE)
    tag = protocol + ("-flip" if flip and protocol != "10crop" else "")
    assert record["out"] == str(large_checkpoint.parent / "eval" / f"resnet20-large-{tag}")


@pytest.mark.filterwarnings("ignore::reslab.data.DataWarning")
def test_a_corrupt_test_image_is_named_or_skipped(large_checkpoint: Path, tmp_path: Path) -> None:
    folder = write_large_folder(tmp_path / "data", bad="class_1/zz-broken.jpg")
    with pytest.raises(DataError, match=r"class_1/zz-broken.jpg: not a readable image"):
        evaluate_checkpoint(
            large_checkpoint, folder, workers=0, root=tmp_path / "root", out=tmp_path / "e"
        )
    record = evaluate_checkpoint(
        large_checkpoint,
        folder,
        workers=0,
        root=tmp_path / "root",
        skip_bad=True,
        out=tmp_path / "e",
    )
    assert record["data"]["images"] == 5 and record["images"] == 4
    assert sum(map(sum, record["confusion_matrix"])) == 4
    assert [Path(f).name for f in record["data"]["skipped"]] == ["zz-broken.jpg"]


def test_bad_inputs_get_clear_messages(
    real_run: Path, real_source, make_checkpoint, large_folder: Path, tmp_path: Path
) -> None:
    kw = dict(workers=0, out=tmp_path / "out", root=real_source.root)
    with pytest.raises(CheckpointError, match=r"nope.pt: no such checkpoint file or run dir"):
        evaluate_checkpoint(tmp_path / "nope.pt", real_source.path, **kw)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match=r"foreign.pt: not a reslab checkpoint"):
        evaluate_checkpoint(foreign, real_source.path, **kw)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match=r"junk.pt: not a readable checkpoint"):
        evaluate_checkpoint(junk, real_source.path, **kw)
    other = load_checkpoint(real_run)
    other["model"] = {"name": "resnet32", "options": {}}  # resnet20's weights
    save_atomic(other, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="weights do not fit model 'resnet32'"):
        evaluate_checkpoint(tmp_path / "other.pt", real_source.path, **kw)
    with pytest.raises(UnknownNameError, match="unknown protocol 'tencrop'"):
        evaluate_checkpoint(real_run, real_source.path, protocol="tencrop", **kw)
    with pytest.raises(OptionError, match=r"--protocol 10crop .* takes 32x32 inputs"):
        evaluate_checkpoint(real_run, real_source.path, protocol="10crop", **kw)
    with pytest.raises(DataError, match=r"has 4 classes but checkpoint .* trained on 10"):
        evaluate_checkpoint(real_run, large_folder, **kw)
    with pytest.raises(DataError, match=r"holds 32x32 images, but .* ImageNet-style model"):
        evaluate_checkpoint(make_checkpoint(input_size=LARGE_SIZE), real_source.path, **kw)
    with pytest.raises(DataError, match="no such file or directory"):
        evaluate_checkpoint(real_run, tmp_path / "missing-data", **kw)
    assert not (tmp_path / "out").exists()  # nothing written on failure


def test_class_names_must_match_in_order(large_checkpoint: Path, tmp_path: Path) -> None:
    folder = write_large_folder(tmp_path / "data")
    (folder / "test" / "class_0").rename(folder / "test" / "class_9")
    (folder / "train" / "class_0").rename(folder / "train" / "class_9")
    source_classes = open_source(folder, root=tmp_path / "root").classes
    assert source_classes[-1] == "class_9"
    with pytest.raises(DataError, match=r"class 0 is 'class_1', but checkpoint .* 'class_0'"):
        evaluate_checkpoint(large_checkpoint, folder, workers=0, root=tmp_path / "root")
