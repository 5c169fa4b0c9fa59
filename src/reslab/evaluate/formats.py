"""The export formats, one table (:data:`FORMATS`): how each writes an artefact, which
runtime reads it back for verification, and which options apply (docs/evaluate.md)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from reslab.errors import CheckpointError, OptionError, check_choice
from reslab.models.blocks import Bottleneck
from reslab.models.weights import save_torchvision, torchvision_arch, torchvision_mismatch

INPUT_NAME, OUTPUT_NAME = "input", "logits"

Runner = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Format:
    """One export format: how an artefact is written, and read back by the runtime that
    verifies it (``runtime`` names it in the sidecar).

    ``write(model, example, path)`` traces on ``example``; a format with opsets
    (``min_opset`` set) takes ``opset=`` too (None: the exporter's default) and records the
    one written (``read_opset``). ``refuses(model)`` says why a model cannot be held
    (None where it can).
    """

    name: str
    write: Callable[..., None]
    load: Callable[[Path], Runner]
    runtime: str
    packages: tuple[str, ...] = ()  # beyond reslab and torch, whose versions the sidecar records
    title: str = ""  # its name beside its opset in summaries ("ONNX opset 20")
    min_opset: int | None = None
    read_opset: Callable[[Path], int] | None = None
    folds_bn: bool = True  # whether --fold-bn applies
    refuses: Callable[[nn.Module], str | None] | None = None
    note: str | None = None  # printed after the summary


def load_exported(path: str | Path, fmt: str) -> Runner:
    """A function from a float32 ``(N, C, H, W)`` batch to logits that runs the artefact
    at ``path`` with the runtime of its format."""
    return format_spec(fmt).load(Path(path))


def format_spec(fmt: str) -> Format:
    check_choice("format", fmt, FORMATS)
    return FORMATS[fmt]


def check_opset(spec: Format, opset: int | None) -> None:
    """An opset only for a format that has opsets, and one its exporter writes."""
    if opset is None:
        return
    if spec.min_opset is None:
        with_opsets = ", ".join(repr(f.name) for f in FORMATS.values() if f.min_opset is not None)
        raise OptionError(f"opset applies to format {with_opsets} only; got format {spec.name!r}")
    if opset < spec.min_opset:
        raise OptionError(f"opset must be at least {spec.min_opset} (torch.onnx); got {opset}")


# --- the formats: one writer, one loader and one runtime each ---------------------------


def _dynamic_shapes() -> tuple[dict[int, Any]]:
    # Batch, height and width; torch.export infers their valid ranges from the model.
    dynamic = torch.export.Dim.DYNAMIC
    return ({0: dynamic, 2: dynamic, 3: dynamic},)


def _write_onnx(model: nn.Module, example: Tensor, path: Path, opset: int | None) -> None:
    # opset None: the exporter's default.
    torch.onnx.export(
        model,
        (example,),
        str(path),
        dynamo=True,
        opset_version=opset,
        dynamic_shapes=_dynamic_shapes(),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        external_data=False,  # one self-contained file (ResNets are far below ONNX's 2 GB)
        verbose=False,
    )


def _onnx_opset(path: Path) -> int:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def _load_onnx(path: Path) -> Runner:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # Idle threads would otherwise spin for a while after each run, starving PyTorch.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(x: Tensor) -> Tensor:
        return torch.from_numpy(session.run(None, {INPUT_NAME: x.cpu().numpy()})[0])

    return run


def _write_torchscript(model: nn.Module, example: Tensor, path: Path) -> None:
    # Tracing is exact here: the forward branches on the architecture, never on the data.
    with _quiet_torchscript(), torch.no_grad():
        torch.jit.trace(model, example).save(str(path))


def _load_torchscript(path: Path) -> Runner:
    with _quiet_torchscript():
        return torch.jit.load(str(path), map_location="cpu")


@contextmanager
def _quiet_torchscript() -> Iterator[None]:
    # PyTorch deprecates TorchScript (FutureWarning); asking for it is a deliberate choice,
    # and docs/evaluate.md points to exported-program instead.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r".*torch\.jit.* is deprecated", FutureWarning)
        yield


def _write_exported_program(model: nn.Module, example: Tensor, path: Path) -> None:
    program = torch.export.export(model, (example,), dynamic_shapes=_dynamic_shapes())
    with path.open("wb") as f:  # a file object: torch.export wants a path ending in .pt2
        torch.export.save(program, f)


def _load_exported_program(path: Path) -> Runner:
    with path.open("rb") as f:
        return torch.export.load(f).module()


def _write_torchvision(model: nn.Module, example: Tensor, path: Path) -> None:
    save_torchvision(model, path)


def _load_torchvision(path: Path) -> Runner:
    return torchvision_model(torch.load(path, map_location="cpu", weights_only=True)).eval()


def torchvision_model(state_dict: Mapping[str, Tensor]) -> nn.Module:
    """torchvision's own ResNet holding a torchvision-layout ``state_dict`` (depth, classes
    and input channels read from the tensors)."""
    from torchvision.models import resnet as tv

    arch = torchvision_arch(state_dict)
    if arch is None:
        raise CheckpointError("state dict is not in torchvision's ResNet layout")
    block, layers = arch
    model = tv.ResNet(
        tv.Bottleneck if block is Bottleneck else tv.BasicBlock,
        list(layers),
        num_classes=state_dict["fc.weight"].shape[0],
    )
    in_chans = state_dict["conv1.weight"].shape[1]
    if in_chans != 3:  # torchvision hard-codes RGB; the stem is otherwise the same
        model.conv1 = nn.Conv2d(in_chans, 64, 7, stride=2, padding=3, bias=False)
    model.load_state_dict(state_dict, strict=True)
    return model


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "onnx",
            _write_onnx,
            _load_onnx,
            "onnxruntime (CPUExecutionProvider)",
            packages=("onnx", "onnxruntime"),
            title="ONNX",
            # The dynamo ONNX exporter writes opset 18 and newer.
            min_opset=18,
            read_opset=_onnx_opset,
        ),
        Format(
            "torchscript",
            _write_torchscript,
            _load_torchscript,
            "torch.jit.load",
            note="PyTorch deprecates TorchScript; exported-program is its successor",
        ),
        Format(
            "exported-program",
            _write_exported_program,
            _load_exported_program,
            "torch.export.load",
        ),
        Format(
            "torchvision",
            _write_torchvision,
            _load_torchvision,
            "torchvision.models.resnet.ResNet",
            packages=("torchvision",),
            folds_bn=False,
            refuses=torchvision_mismatch,
        ),
    )
}
