"""The paper's Table 1 (ImageNet architectures), generated from the model zoo.

Nothing is typed in: output sizes come from a forward pass on the meta device (shapes
without arithmetic), block shapes from the units' convolutions, multiply-adds from
:func:`reslab.models.count_macs` (PyTorch's FLOP counter, which needs only shapes, so it runs
on the meta device too), beside the paper's FLOPs from the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from reslab.models import ResNet, count_macs, create_model, get_entry

TABLE1_MODELS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
INPUT_SIZE = 224


@dataclass(frozen=True)
class Stage:
    name: str  # the paper's: conv1, conv2_x, ..., conv5_x
    output_size: tuple[int, int]  # (H, W) at a 224x224 input
    layers: tuple[str, ...]  # e.g. ("3x3 max pool, stride 2", "[3x3, 64; 3x3, 64] x 2")


@dataclass(frozen=True)
class Architecture:
    name: str
    depth: int
    stages: tuple[Stage, ...]
    head: str  # after the last stage: "average pool, 1000-d fc, softmax"
    head_size: tuple[int, int]
    macs: int  # measured multiply-adds at 224x224
    paper_macs: float | None


def architecture(name: str, input_size: int = INPUT_SIZE) -> Architecture:
    """Stages, measured output sizes and multiply-adds of a registered ImageNet model."""
    with torch.device("meta"):
        model = create_model(name)
    sizes = _output_sizes(model, input_size)
    stem = model.conv1
    stem_text = f"{_kernel(stem)}, {stem.out_channels}, stride {stem.stride[0]}"
    stages = [Stage("conv1", sizes["conv1"], (stem_text,))]
    for i, (stage_name, stage) in enumerate(zip(model.stage_names, model.stages, strict=True)):
        layers = [_units(stage)]
        if i == 0 and isinstance(model.maxpool, nn.MaxPool2d):
            k, stride = model.maxpool.kernel_size, model.maxpool.stride
            layers.insert(0, f"{k}x{k} max pool, stride {stride}")
        stages.append(Stage(f"conv{i + 2}_x", sizes[stage_name], tuple(layers)))
    entry = get_entry(name)
    return Architecture(
        name=name,
        depth=model.depth,
        stages=tuple(stages),
        head=f"average pool, {model.fc.out_features}-d fc, softmax",
        head_size=sizes["avgpool"],
        macs=count_macs(model, input_size),
        paper_macs=entry.paper.macs if entry.paper else None,
    )


def _output_sizes(model: ResNet, input_size: int) -> dict[str, tuple[int, int]]:
    """(H, W) after the stem conv, each stage and the pooling, from a meta-device forward."""
    sizes: dict[str, tuple[int, int]] = {}
    hooks = [
        getattr(model, name).register_forward_hook(
            lambda m, i, out, name=name: sizes.__setitem__(name, tuple(out.shape[-2:]))
        )
        for name in ("conv1", *model.stage_names, "avgpool")
    ]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, input_size, input_size, device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    return sizes


def _kernel(conv: nn.Conv2d) -> str:
    return "x".join(map(str, conv.kernel_size))


def _units(stage: nn.Sequential) -> str:
    """'[3x3, 64; 3x3, 64] x 2' from the first unit's convolutions, in forward order."""
    unit = stage[0]
    convs = [getattr(unit, f"conv{k}") for k in (1, 2, 3) if hasattr(unit, f"conv{k}")]
    inner = "; ".join(f"{_kernel(c)}, {c.out_channels}" for c in convs)
    return f"[{inner}] x {len(stage)}"


def table1(names: Sequence[str] = TABLE1_MODELS) -> list[Architecture]:
    return [architecture(name) for name in names]


# --- rendering -------------------------------------------------------------------------


def _rows(archs: Sequence[Architecture], sep: str) -> tuple[list[str], list[list[str]]]:
    """The paper's layout: one row per stage, one column per model."""
    header = ["layer name", "output size", *(f"{a.depth}-layer" for a in archs)]
    rows = []
    for i, stage in enumerate(archs[0].stages):
        cells = [sep.join(a.stages[i].layers) for a in archs]
        rows.append([stage.name, _size(_common(a.stages[i].output_size for a in archs)), *cells])
    rows.append(["", _size(_common(a.head_size for a in archs)), *(a.head for a in archs)])
    rows.append(["mult-adds", "", *(_macs(a) for a in archs)])
    return header, rows


def _common(sizes) -> tuple[int, int]:
    sizes = set(sizes)
    if len(sizes) != 1:  # cannot happen for the paper's models; guards a custom list
        raise ValueError(f"models disagree on the output size of a stage: {sorted(sizes)}")
    return sizes.pop()


def _size(hw: tuple[int, int]) -> str:
    return f"{hw[0]}x{hw[1]}"


def _macs(a: Architecture) -> str:
    paper = f" (paper {a.paper_macs / 1e9:.1f} x 10^9)" if a.paper_macs else ""
    return f"{a.macs / 1e9:.2f} x 10^9{paper}"


def table1_markdown(archs: Sequence[Architecture]) -> str:
    """Table 1 as a Markdown table (multi-line cells joined with <br>)."""
    header, rows = _rows(archs, "<br>")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    note = (
        f"Output sizes and multiply-adds measured on reslab's models at {INPUT_SIZE}x{INPUT_SIZE}; "
        "the paper's FLOPs count multiply-adds."
    )
    return "\n".join(lines) + "\n\n" + note + "\n"
