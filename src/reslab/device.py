"""``--device`` and ``run.device``: one reading of a device name, for training and
evaluation; and the autocast of a precision (``run.precision``, ``reslab eval --precision``),
emulated for bf16 on a CPU without bf16 matrix units (:mod:`reslab.bf16`)."""

from __future__ import annotations

import contextlib

import torch

from reslab.bf16 import EmulatedAutocast, emulated
from reslab.errors import OptionError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N`` (any name
    ``torch.device`` reads). ``cuda`` keeps no index: the current CUDA device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise OptionError(f"--device must be auto, cpu or cuda; got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise OptionError(f"--device {name} was asked for, but PyTorch sees no CUDA device")
    return device


# Concrete precisions and their autocast dtypes; fp32 runs without autocast.
PRECISIONS: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


def precision_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a concrete precision; None = fp32 (no autocast)."""
    return PRECISIONS[precision]


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast to ``precision`` on ``device``; fp32 needs none."""
    dtype = precision_dtype(precision)
    if dtype is None:
        return contextlib.nullcontext()
    if emulated(device, precision):
        return EmulatedAutocast()
    return torch.autocast(device.type, dtype=dtype)
