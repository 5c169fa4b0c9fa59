"""Parameter and multiply-add counts, measured by running the model, never by formula."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from reslab.fileio import write_json
from reslab.models.blocks import unit_name
from reslab.models.registry import create_model, get_entry
from reslab.models.resnet import ResNet


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_size: int | tuple[int, int], in_chans: int = 3) -> int:
    """Multiply-adds of one forward pass of one image, from PyTorch's FLOP counter.

    Counts convolutions and matrix products (FLOPs / 2), the convention of the paper's
    Table 1; BN, ReLU, pooling and additions are not counted. Weight values do not matter.
    """
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    device = next(model.parameters()).device
    x = torch.zeros(1, in_chans, h, w, device=device)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(x)
    return counter.get_total_flops() // 2


@dataclass(frozen=True)
class Complexity:
    params: int
    macs: int
    input_size: int


def complexity(name: str, **options: object) -> Complexity:
    """Parameters and multiply-adds of a registered model at its native input size."""
    entry = get_entry(name)
    model = _skeleton(name, **options)
    in_chans = int(options.get("in_chans", 3))  # type: ignore[arg-type]
    return Complexity(
        count_params(model), count_macs(model, entry.input_size, in_chans), entry.input_size
    )


def describe(name: str) -> dict[str, object]:
    """One row of ``reslab models``: architecture, measured cost, and the paper's figures."""
    entry = get_entry(name)
    model = _skeleton(name)
    bottleneck = model.block.expansion > 1
    paper = entry.paper
    return {
        "name": name,
        "family": entry.family,
        "depth": model.depth,
        "block": unit_name(model.block),
        "shortcut": model.shortcut if model.shortcut is not None else "none (plain)",
        "stride": ("1x1 (v1)" if model.stride_on_1x1 else "3x3 (v1.5)") if bottleneck else "-",
        "input_size": entry.input_size,
        "params": count_params(model),
        "macs": count_macs(model, entry.input_size),
        "paper_source": paper.source if paper else None,
        "paper_params": paper.params if paper else None,
        "paper_macs": paper.macs if paper else None,
        "paper_top1_err": paper.top1_err if paper else None,
        "paper_top5_err": paper.top5_err if paper else None,
    }


def describe_many(names: Sequence[str], cache_dir: Path | None = None) -> list[dict[str, object]]:
    """``describe`` of each name, read from ``cache_dir`` when measured before.

    A row is a pure function of the model code and torch's FLOP counter, so the cache file
    is keyed by a hash of ``reslab/models/*.py`` and the torch version: editing a model
    starts a new file. Counting all 29 models takes 10-15 s on a quiet 2-core CPU.
    """
    path = cache_dir / f"models-{_code_key()}.json" if cache_dir is not None else None
    cached: dict[str, dict[str, object]] = {}
    if path is not None and path.is_file():
        try:
            cached = json.loads(path.read_text())
        except (OSError, ValueError):
            cached = {}  # a damaged cache is measured again, never trusted
    missing = [n for n in names if n not in cached]
    for name in missing:
        cached[name] = describe(name)
    if path is not None and missing:
        # A read-only cache folder only costs the next call its speed.
        with contextlib.suppress(OSError):
            write_json(path, cached, indent=1)
    return [cached[n] for n in names]


def _code_key() -> str:
    digest = hashlib.sha256(torch.__version__.encode())
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()[:16]


def _skeleton(name: str, **options: object) -> ResNet:
    """The model on the meta device: shapes without storage, so that neither the weight
    initialisation nor the counted forward pass computes anything (the FLOP counter needs
    only shapes). All 29 models of ``reslab models`` count in about a second."""
    with torch.device("meta"):
        return create_model(name, **options)
