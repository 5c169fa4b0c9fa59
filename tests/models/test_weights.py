"""``create_model(name, weights=...)``: reslab checkpoints and torchvision state dicts, both
ways, with the same outputs; every weights/model mismatch is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from reslab.checkpoint import load_checkpoint
from reslab.errors import CheckpointError, OptionError
from reslab.models import create_model, model_from_checkpoint
from reslab.models.fold import fold_batchnorm
from reslab.models.weights import load_torchvision, save_torchvision


def _same(a: torch.nn.Module, b: torch.nn.Module, size: int = 64) -> None:
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(a.eval()(x), b.eval()(x), atol=1e-5, rtol=0)


def _torchvision_file(tmp_path: Path, name: str, **kwargs) -> tuple[torch.nn.Module, Path]:
    """torchvision's ``name`` with random weights, saved as torchvision saves its own."""
    theirs = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    path = tmp_path / f"{name}-00000000.pth"
    torch.save(theirs.state_dict(), path)
    return theirs, path


# --- torchvision -> reslab ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_torchvision_file_builds_the_v15_option_b_model(tmp_path: Path, name: str) -> None:
    theirs, path = _torchvision_file(tmp_path, name)
    ours = create_model(name, weights=path)
    assert (ours.shortcut, ours.stride_on_1x1) == ("B", False)
    _same(ours, theirs)


def test_head_and_stem_sizes_come_from_the_tensors(tmp_path: Path) -> None:
    theirs, path = _torchvision_file(tmp_path, "resnet18", num_classes=7)
    ours = create_model("resnet18", weights=path)
    assert ours.fc.out_features == 7
    _same(ours, theirs)


def test_wrapped_and_prefixed_state_dicts_load(tmp_path: Path) -> None:
    theirs = torchvision.models.resnet18(weights=None)
    ddp_style = {f"module.{k}": v for k, v in theirs.state_dict().items()}
    for wrapped in ({"state_dict": ddp_style}, {"model": ddp_style, "epoch": 3}):
        path = tmp_path / "wrapped.pth"
        torch.save(wrapped, path)
        _same(create_model("resnet18", weights=path), theirs)


def test_old_files_without_num_batches_tracked_load(tmp_path: Path) -> None:
    theirs = torchvision.models.resnet18(weights=None)
    old = {k: v for k, v in theirs.state_dict().items() if "num_batches_tracked" not in k}
    _same(create_model("resnet18", weights=old), theirs)


def test_v1_model_refuses_v15_weights_unless_told(tmp_path: Path) -> None:
    theirs, path = _torchvision_file(tmp_path, "resnet50")
    with pytest.raises(CheckpointError, match=r"stride the 3x3 \(v1\.5\).*stride_on_1x1=False"):
        create_model("resnet50", weights=path, stride_on_1x1=True)

    v1 = create_model("resnet50", stride_on_1x1=True)
    load_torchvision(v1, theirs.state_dict(), allow_stride_mismatch=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():  # the reason for refusing: same tensors, another function
        assert not torch.allclose(v1.eval()(x), theirs(x), atol=1e-3)


def test_stride_placement_is_moot_for_basic_blocks(tmp_path: Path) -> None:
    theirs, path = _torchvision_file(tmp_path, "resnet18")
    _same(create_model("resnet18", weights=path, stride_on_1x1=True), theirs)


@pytest.mark.parametrize(
    ("name", "options", "reason"),
    [
        ("resnet20", {}, "only ImageNet ResNets"),
        ("preact_resnet18", {}, "no pre-activation ResNets"),
        ("plain18", {}, r"no plain \(shortcut-free\) networks"),
        ("resnet18", {"shortcut": "C"}, "this model uses option C"),
    ],
)
def test_models_torchvision_does_not_have_are_refused(
    tmp_path: Path, name: str, options: dict, reason: str
) -> None:
    _, path = _torchvision_file(tmp_path, "resnet18")
    with pytest.raises(CheckpointError, match=f"read in torchvision's ResNet layout.*{reason}"):
        create_model(name, weights=path, **options)


def test_weights_of_another_depth_are_named(tmp_path: Path) -> None:
    _, path = _torchvision_file(tmp_path, "resnet18")
    with pytest.raises(
        CheckpointError,
        match=r"weights \(torchvision's resnet18\) do not fit resnet34: 80 tensors missing",
    ):
        create_model("resnet34", weights=path)


def test_asked_option_that_contradicts_the_tensors(tmp_path: Path) -> None:
    _, path = _torchvision_file(tmp_path, "resnet18")
    with pytest.raises(
        CheckpointError, match=r"fc\.weight is 1000x512 in the weights but 10x512 in resnet18"
    ):
        create_model("resnet18", weights=path, num_classes=10)


def test_not_a_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "junk.pth"
    torch.save({"epoch": 3, "lr": 0.1}, path)
    with pytest.raises(
        CheckpointError, match=r"junk\.pth: neither a reslab checkpoint nor a state"
    ):
        create_model("resnet18", weights=path)


def test_missing_weights_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nope\.pth: no such checkpoint file"):
        create_model("resnet18", weights=tmp_path / "nope.pth")


# --- reslab -> torchvision ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options"), [("resnet34", {}), ("resnet50", {"stride_on_1x1": False})]
)
def test_saved_weights_load_into_torchvision(tmp_path: Path, name: str, options: dict) -> None:
    ours = create_model(name, **options)
    save_torchvision(ours, tmp_path / "w.pth")
    theirs = getattr(torchvision.models, name)(weights=None)
    theirs.load_state_dict(torch.load(tmp_path / "w.pth", weights_only=True), strict=True)
    _same(ours, theirs)


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (lambda: create_model("resnet50"), r"stride the 3x3 \(v1\.5\), this model the first 1x1"),
        (lambda: create_model("resnet20"), "only ImageNet ResNets"),
        (lambda: create_model("preact_resnet18"), "no pre-activation ResNets"),
        (lambda: fold_batchnorm(create_model("resnet18")), "BatchNorm folded"),
    ],
)
def test_save_refuses_what_torchvision_cannot_hold(tmp_path: Path, model, reason: str) -> None:
    with pytest.raises(OptionError, match=f"cannot save .*w.pth in torchvision layout: .*{reason}"):
        save_torchvision(model(), tmp_path / "w.pth")
    assert not (tmp_path / "w.pth").exists()


# --- reslab checkpoints ------------------------------------------------------------------


def test_checkpoint_rebuilds_its_own_options(make_checkpoint, tmp_path: Path) -> None:
    path = make_checkpoint("resnet20", shortcut="B")
    reference = model_from_checkpoint(load_checkpoint(path))
    model = create_model("resnet20", weights=path, zero_init_residual=True)  # init-only: moot
    assert model.shortcut == "B"
    _same(model, reference, size=32)

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    path.rename(run / "checkpoints" / "final.pt")
    _same(create_model("resnet20", weights=run), reference, size=32)
    _same(create_model("resnet20", weights=load_checkpoint(run)), reference, size=32)


def test_checkpoint_of_another_model_names_both(make_checkpoint) -> None:
    path = make_checkpoint("resnet20")
    with pytest.raises(
        CheckpointError, match=r"resnet20\.pt holds resnet20, not the requested resnet32"
    ):
        create_model("resnet32", weights=path)


def test_checkpoint_with_other_options_names_both(make_checkpoint) -> None:
    path = make_checkpoint("resnet20", shortcut="B")
    with pytest.raises(
        CheckpointError,
        match=r"holds resnet20\(shortcut='B'\), not the requested resnet20\(shortcut='A'\)",
    ):
        create_model("resnet20", weights=path, shortcut="A")


def test_truncated_checkpoint(make_checkpoint) -> None:
    path = make_checkpoint("resnet20")
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match=r"resnet20\.pt: not a readable checkpoint"):
        create_model("resnet20", weights=path)
