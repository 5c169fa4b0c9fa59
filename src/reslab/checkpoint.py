"""The checkpoint format shared by training, evaluation and analysis.

A checkpoint is a ``torch.save``-d dict of tensors and plain values, loadable with
``weights_only=True`` (no pickled code). See ``docs/design.md`` for the keys.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reslab.errors import CheckpointError, ReslabError

FORMAT = "reslab.checkpoint"
VERSION = 1
REQUIRED = ("model", "classes", "normalization", "input_size", "state_dict")


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside DDP and ``torch.compile`` wrappers (stable state-dict names)."""
    while True:
        if hasattr(model, "_orig_mod"):  # torch.compile
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def save_atomic(obj: Any, path: str | Path) -> None:
    """Write ``obj`` with ``torch.save`` so that ``path`` holds either the old or the new
    file, never a torn one (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; on success it replaces ``path``.

    Temporary file in the same directory, fsync, rename over the target, fsync the directory.
    If the body raises, the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(0o666 & ~_umask())  # mkstemp makes it 0600; give it an ordinary file's mode
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync(path.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a reslab checkpoint; a RUN_DIR means its final weights
    (:func:`resolve_checkpoint`)."""
    path = resolve_checkpoint(path)
    return check_checkpoint(load_file(path, map_location), path)


def load_file(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``; a :class:`CheckpointError` naming the file
    when it is truncated or was not written by ``torch.save``."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, OSError) as err:
        raise CheckpointError(
            f"{path}: not a readable checkpoint (truncated or not written by torch.save): "
            f"{str(err).splitlines()[0] if str(err) else type(err).__name__}"
        ) from None


def is_checkpoint(obj: object) -> bool:
    """Whether a loaded object claims to be a reslab checkpoint (as opposed to a bare
    state dict)."""
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def check_checkpoint(ckpt: object, path: str | Path) -> dict[str, Any]:
    """``ckpt`` itself if it is a reslab checkpoint this version understands, else a
    :class:`CheckpointError` naming ``path``."""
    if not is_checkpoint(ckpt):
        raise CheckpointError(f"{path}: not a reslab checkpoint (no 'format': {FORMAT!r})")
    if ckpt.get("version", 0) > VERSION:
        raise CheckpointError(
            f"{path}: checkpoint version {ckpt['version']} is newer than this reslab "
            f"understands ({VERSION}); upgrade reslab"
        )
    missing = [key for key in REQUIRED if key not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return ckpt


# What a RUN_DIR stands for, first found first: the weights whose test error the summary
# reports (final.pt, written when the run finishes), else the newest ones. Never best.pt
# unasked: without a validation split it is chosen on the test set, an optimistic pick.
RUN_CHECKPOINTS = ("final.pt", "latest.pt")


def resolve_checkpoint(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        for name in RUN_CHECKPOINTS:
            if (path / "checkpoints" / name).is_file():
                return path / "checkpoints" / name
        raise CheckpointError(
            f"{path}: a directory without checkpoints/final.pt or latest.pt (pass "
            f"{path / 'checkpoints' / 'best.pt'} to use the best checkpoint)"
        )
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file or run directory")
    return path


def describe_checkpoint(path: Path) -> str:
    """What a resolved checkpoint file holds, for messages: 'final weights', ..."""
    return {
        "final.pt": "the final weights",
        "latest.pt": "the latest weights (the run has not finished, or predates final.pt)",
        "best.pt": "the best checkpoint (chosen on the validation split, else on the test split)",
    }.get(path.name, "the checkpoint file given")


def model_from_checkpoint(ckpt: dict[str, Any]) -> nn.Module:
    """Rebuild the registered model a checkpoint names and load its weights (strict)."""
    from reslab.models import create_model

    spec = ckpt["model"]
    try:
        model = create_model(spec["name"], **spec.get("options", {}))
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except ReslabError as err:
        raise CheckpointError(f"checkpoint names a model this reslab cannot build: {err}") from None
    except RuntimeError as err:
        raise CheckpointError(
            f"checkpoint weights do not fit model {spec['name']!r}: {str(err).splitlines()[0]}"
        ) from None
    return model
