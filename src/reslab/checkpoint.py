"""The checkpoint format shared by training, evaluation and analysis.

A checkpoint is a ``torch.save``-d dict of tensors and plain values, loadable with
``weights_only=True`` (no pickled code). See ``docs/design.md`` for the keys.

Every load first verifies the CRC-32 that ``torch.save`` stores for each record of its zip
container, so that a flipped bit is refused instead of becoming a wrong weight; files of
any reslab version (and bare state dicts) carry these checksums.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reslab.errors import CheckpointError
from reslab.fileio import atomic_path

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


def save_atomic(obj: Any, path: str | Path, *, keep_previous: bool = False) -> None:
    """Write ``obj`` with ``torch.save`` so that ``path`` holds either the old or the new
    file, never a torn one (:func:`reslab.fileio.atomic_path`). ``keep_previous``: the old
    file becomes :func:`previous_path` (``latest.pt`` -> ``latest.prev.pt``), so that one
    damaged file never costs a run."""
    with atomic_path(path, keep_previous=keep_previous) as tmp, open(tmp, "wb") as f:
        # A file object rather than a path: torch's own writer reports a full disk as
        # "enforce fail ... unexpected pos"; Python's raises OSError(ENOSPC).
        torch.save(obj, f)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a reslab checkpoint; a RUN_DIR means its final weights
    (:func:`resolve_checkpoint`)."""
    path = resolve_checkpoint(path)
    return check_checkpoint(load_file(path, map_location), path)


def load_file(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` after :func:`verify_file`; a
    :class:`CheckpointError` naming the file when it is damaged, truncated, holds pickled
    code or was not written by ``torch.save``."""
    verify_file(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's message advises weights_only=False, i.e. running the file's code: never
        # relay it; keep only its diagnosis.
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        found = [line for line in lines if "GLOBAL" in line or "global" in line]
        if found:
            raise CheckpointError(
                f"{path}: refused: it holds pickled objects other than tensors and plain "
                f"values ({found[0].rstrip('.')}), which could run code when loaded"
            ) from None
        advice = ("Weights only load failed", "Please file", "Check the documentation")
        detail = next((line for line in lines if not line.startswith(advice)), "bad pickle")
        raise CheckpointError(
            f"{path}: not a readable checkpoint (truncated or not written by torch.save): {detail}"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(
            f"{path}: not a readable checkpoint (truncated or not written by torch.save): "
            f"{str(err).splitlines()[0] if str(err) else type(err).__name__}"
        ) from None


def verify_file(path: str | Path) -> None:
    """Check the CRC-32 of every record of a ``torch.save`` zip container: a
    :class:`CheckpointError` naming the file and the record for a mismatch. Files of torch's
    legacy (non-zip) format have no checksums and pass; torch.load judges them."""
    try:
        if not zipfile.is_zipfile(path):
            return
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.CRC == 0 and info.file_size:
                    continue  # written with torch's compute_crc32 off: nothing to check
                with zf.open(info) as f:
                    while f.read(1 << 22):  # zipfile checks the CRC at the end of a record
                        pass
    except zipfile.BadZipFile as err:
        raise CheckpointError(
            f"{path}: damaged checkpoint ({err}): its contents do not match the checksums "
            "stored when it was written"
        ) from None
    except (OSError, EOFError, ValueError) as err:
        raise CheckpointError(f"{path}: damaged or truncated checkpoint ({err})") from None


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
