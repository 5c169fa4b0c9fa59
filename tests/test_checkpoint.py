"""The shared checkpoint format: atomic writes and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reslab.checkpoint import (
    FORMAT,
    load_checkpoint,
    model_from_checkpoint,
    save_atomic,
    unwrap,
)
from reslab.errors import CheckpointError
from reslab.models import create_model


def _checkpoint(name: str = "resnet20", **options: object) -> dict:
    model = create_model(name, **options)
    return {
        "format": FORMAT,
        "version": 1,
        "model": {"name": name, "options": options},
        "classes": [str(i) for i in range(10)],
        "normalization": {"mean": [0.5, 0.5, 0.5], "std": [1.0, 1.0, 1.0]},
        "input_size": 32,
        "state_dict": model.state_dict(),
    }


def test_round_trip_rebuilds_the_same_model(tmp_path: Path) -> None:
    ckpt = _checkpoint(shortcut="B")
    save_atomic(ckpt, tmp_path / "run" / "checkpoints" / "final.pt")
    loaded = load_checkpoint(tmp_path / "run")  # a run directory means its final weights
    model = model_from_checkpoint(loaded).eval()
    ref = create_model("resnet20", shortcut="B").eval()
    ref.load_state_dict(ckpt["state_dict"])
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(x), ref(x))
    assert list(tmp_path.glob("run/checkpoints/*.tmp")) == []


def test_save_replaces_the_old_file_atomically(tmp_path: Path) -> None:
    path = tmp_path / "latest.pt"
    save_atomic({"a": 1}, path)
    save_atomic({"a": 2}, path)
    assert torch.load(path, weights_only=True) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.pt"
    save_atomic(_checkpoint(), path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"cut\.pt: not a readable checkpoint"):
        load_checkpoint(path)


def test_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "foreign.pt"
    torch.save(create_model("resnet20").state_dict(), path)
    with pytest.raises(CheckpointError, match="not a reslab checkpoint"):
        load_checkpoint(path)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint file or run directory"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match=r"without checkpoints/final\.pt or latest\.pt"):
        load_checkpoint(tmp_path)


def test_weights_of_another_model(tmp_path: Path) -> None:
    ckpt = _checkpoint()
    ckpt["model"]["name"] = "resnet32"
    with pytest.raises(CheckpointError, match="do not fit model 'resnet32'"):
        model_from_checkpoint(ckpt)


def test_unwrap_compiled_model() -> None:
    model = create_model("resnet20")
    assert unwrap(torch.compile(model)) is model


def test_a_run_directory_means_its_final_weights_never_best_unasked(tmp_path: Path) -> None:
    from reslab.checkpoint import describe_checkpoint, resolve_checkpoint

    ckpts = tmp_path / "run" / "checkpoints"
    save_atomic(_checkpoint(), ckpts / "best.pt")
    with pytest.raises(
        CheckpointError, match=r"without checkpoints/final.pt or latest.pt.*best.pt"
    ):
        resolve_checkpoint(tmp_path / "run")
    save_atomic(_checkpoint(), ckpts / "latest.pt")
    assert resolve_checkpoint(tmp_path / "run") == ckpts / "latest.pt"  # an unfinished run
    save_atomic(_checkpoint(), ckpts / "final.pt")
    path = resolve_checkpoint(tmp_path / "run")
    assert path == ckpts / "final.pt" and describe_checkpoint(path) == "the final weights"
