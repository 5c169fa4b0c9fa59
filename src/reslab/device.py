"""``--device`` and ``run.device``: one reading of a device name, for training and evaluation."""

from __future__ import annotations

import torch

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
