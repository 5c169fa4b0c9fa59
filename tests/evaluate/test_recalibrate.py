"""BN recalibration: a true average over training batches, written as a new checkpoint."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from reslab.checkpoint import load_checkpoint
from reslab.data import open_source
from reslab.errors import CheckpointError
from reslab.evaluate.evaluator import load_for_eval
from reslab.evaluate.recalibrate import recalibrate, take, train_loader
from reslab.models import model_from_checkpoint


def test_statistics_are_the_average_of_the_batches(real_run: Path, real_source, tmp_path) -> None:
    ckpt_file = tmp_path / "model.pt"
    shutil.copy(real_run / "checkpoints" / "best.pt", ckpt_file)
    before = load_checkpoint(ckpt_file)
    report = recalibrate(
        ckpt_file,
        real_source.path,
        batches=3,
        batch_size=16,
        device="cpu",
        root=real_source.root,
        test_subset_per_class=2,
        workers=0,
    )
    out = tmp_path / "model-bnrecal.pt"  # the default name, beside the input
    assert report["out"] == str(out)
    assert load_checkpoint(ckpt_file)["state_dict"]["bn1.running_mean"].equal(
        before["state_dict"]["bn1.running_mean"]
    )  # the input is untouched
    new = load_checkpoint(out)
    model = model_from_checkpoint(new)  # loadable, strict
    assert "train_state" not in new and new["bn_recalibration"]["batches"] == 3
    assert new["bn_recalibration"]["before"]["images"] == 20
    assert set(report["before"]) == {"loss", "top1_err", "top5_err", "images"}
    sd, old = new["state_dict"], before["state_dict"]
    assert int(sd["bn1.num_batches_tracked"]) == 3
    assert not torch.allclose(sd["bn1.running_mean"], old["bn1.running_mean"])
    weights = [
        k for k in sd if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    ]
    assert all(torch.equal(sd[k], old[k]) for k in weights)  # only the statistics change

    # By hand: the first BN's mean is the mean of the 3 batches' channel means of conv1.
    loaded = load_for_eval(ckpt_file, torch.device("cpu"))
    source = open_source(real_source.path, root=real_source.root)
    loader = train_loader(source, loaded, batch_size=16, augment=False, seed=0, workers=0)
    with torch.no_grad():
        means = [model.conv1(x).mean((0, 2, 3)) for x in take(loader, 3)]
    assert sd["bn1.running_mean"] == pytest.approx(torch.stack(means).mean(0), abs=1e-5)


def test_never_overwrites_silently(real_run: Path, real_source, tmp_path: Path) -> None:
    best = real_run / "checkpoints" / "best.pt"
    kw = dict(batches=1, batch_size=8, device="cpu", root=real_source.root, workers=0)
    with pytest.raises(CheckpointError, match=r"is the input checkpoint; .* never overwrites"):
        recalibrate(best, real_source.path, out=best, **kw)
    taken = tmp_path / "taken.pt"
    taken.write_bytes(b"keep me")
    with pytest.raises(CheckpointError, match=r"taken.pt exists; pass --overwrite"):
        recalibrate(real_run, real_source.path, out=taken, **kw)
    assert taken.read_bytes() == b"keep me"
    report = recalibrate(
        real_run, real_source.path, out=taken, overwrite=True, test_subset_per_class=1, **kw
    )
    assert report["after"]["images"] == 10
    final = real_run / "checkpoints" / "final.pt"  # what a RUN_DIR means
    assert load_checkpoint(taken)["bn_recalibration"]["source_checkpoint"] == str(final)


def test_large_images_stream_through_epochs(large_checkpoint: Path, large_folder: Path) -> None:
    report = recalibrate(
        large_checkpoint,
        large_folder,
        batches=3,
        batch_size=2,
        device="cpu",
        workers=0,
        root=large_folder.parent / "root",
    )
    assert report["images"] == 6  # 4 training images: the third batch is the next epoch's
    new = load_checkpoint(report["out"])
    assert int(new["state_dict"]["bn1.num_batches_tracked"]) == 3
    assert report["before"]["images"] == report["after"]["images"] == 4
