"""The shared checkpoint format: atomic writes and clear errors for bad files."""

from __future__ import annotations

import ast
import os
import tempfile
from pathlib import Path

import pytest
import torch

from reslab.checkpoint import FORMAT, load_checkpoint, save_atomic, unwrap
from reslab.errors import CheckpointError, DiskFullError
from reslab.fileio import previous_path, remove_stale_temporaries
from reslab.models import create_model, model_from_checkpoint


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


def test_checkpoint_format_does_not_import_the_models() -> None:
    """models/ reads checkpoints (weights.py), so the format itself must not import models/:
    rebuilding a model from a checkpoint lives in reslab.models."""
    import reslab.checkpoint

    tree = ast.parse(Path(reslab.checkpoint.__file__).read_text())
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [m for m in imported if m and m.startswith("reslab.models")]


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


def _flip_a_weight_byte(path: Path, weight: torch.Tensor) -> None:
    data = bytearray(path.read_bytes())
    at = data.find(weight.numpy().tobytes())
    assert at > 0
    data[at + 3] ^= 0x40  # the exponent byte of the first float
    path.write_bytes(bytes(data))


def test_a_flipped_byte_is_refused(tmp_path: Path) -> None:
    ckpt = _checkpoint()
    path = tmp_path / "latest.pt"
    save_atomic(ckpt, path)
    _flip_a_weight_byte(path, ckpt["state_dict"]["fc.weight"])
    with pytest.raises(CheckpointError, match=r"latest\.pt: damaged checkpoint .*checksums"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="damaged checkpoint"):  # bare loads too
        create_model("resnet20", weights=path)


def test_files_written_by_plain_torch_save_still_load(tmp_path: Path) -> None:
    ckpt = _checkpoint()
    for name, zipped in (("zip.pt", True), ("legacy.pt", False)):
        torch.save(ckpt, tmp_path / name, _use_new_zipfile_serialization=zipped)
        loaded = load_checkpoint(tmp_path / name)
        assert torch.equal(loaded["state_dict"]["fc.weight"], ckpt["state_dict"]["fc.weight"])


def test_keep_previous_rotates_atomically(tmp_path: Path) -> None:
    path = tmp_path / "latest.pt"
    save_atomic({"a": 1}, path, keep_previous=True)
    assert not previous_path(path).exists()
    save_atomic({"a": 2}, path, keep_previous=True)
    save_atomic({"a": 3}, path, keep_previous=True)
    assert torch.load(path, weights_only=True) == {"a": 3}
    assert torch.load(tmp_path / "latest.prev.pt", weights_only=True) == {"a": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.prev.pt", "latest.pt"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_full_disk_is_named_and_leaves_the_old_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "latest.pt"
    save_atomic({"a": 1}, path)
    real_mkstemp = tempfile.mkstemp

    def full_disk(*args, **kwargs):  # the temporary file lands on a device that is full
        fd, name = real_mkstemp(*args, **kwargs)
        os.close(fd)
        os.unlink(name)
        os.symlink("/dev/full", name)
        return os.open(name, os.O_WRONLY), name

    monkeypatch.setattr(tempfile, "mkstemp", full_disk)
    with pytest.raises(
        DiskFullError,
        match=r"no space left on device while writing .*latest\.pt; "
        r"the previous checkpoint is intact",
    ):
        save_atomic({"a": torch.zeros(100_000)}, path)
    assert torch.load(path, weights_only=True) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]


def test_stale_temporaries_are_removed(tmp_path: Path) -> None:
    save_atomic({"a": 1}, tmp_path / "latest.pt")
    for name in (".latest.pt.k2j3_x.tmp", ".metrics.jsonl.abc123.tmp"):
        (tmp_path / name).write_bytes(b"x" * 100)
    (tmp_path / "notes.tmp").write_text("mine")
    removed = remove_stale_temporaries(tmp_path)
    assert len(removed) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.pt", "notes.tmp"]


def test_pickled_code_is_refused_without_advising_to_run_it(tmp_path: Path) -> None:
    class Code:
        def __reduce__(self):
            return (os.system, ("echo never",))

    path = tmp_path / "evil.pt"
    torch.save({"x": Code()}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert "evil.pt: refused" in message and "could run code" in message
    assert "weights_only" not in message and "\n" not in message
