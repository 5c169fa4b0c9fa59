"""Export a checkpoint to ONNX, TorchScript, a torch.export program or torchvision weights.

Every artefact is verified before it is installed: it is loaded back with the runtime that
will run it (onnxruntime, ``torch.jit.load``, ``torch.export.load``, torchvision's own
ResNet) and its logits are compared with the PyTorch model's on sample inputs that vary the
batch size and the (non-square) image size, since batch, height and width are left dynamic.
Beyond the tolerance the export fails and nothing is written. A JSON sidecar ``FILE.json``
carries what a consumer needs: class names, normalisation, input size, provenance.

The tolerance, unless given, scales with the network's own float32 round-off: PyTorch's
float32 logits are compared with a float64 run, and an artefact may differ from PyTorch by
``ROUNDOFF_FACTOR`` times that (at least ``MIN_ATOL``). Two float32 implementations differ
by about twice the round-off (measured: ONNX Runtime and BN folding on reslab models), while
real drift (a wrong stride, padding or BN mode) moves logits by 0.1 and more. A fixed
tolerance cannot serve both a ResNet-20 (round-off ~1e-7) and an untrained ResNet-152 (~1e-3).
"""

from __future__ import annotations

import copy
import json
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from reslab.checkpoint import (
    atomic_path,
    unwrap,
)
from reslab.errors import ExportError, OptionError, check_choice
from reslab.models import model_from_checkpoint

FORMATS = ("onnx", "torchscript", "exported-program", "torchvision")
MIN_ATOL = 1e-4
ROUNDOFF_FACTOR = 10
INPUT_NAME, OUTPUT_NAME = "input", "logits"
# The dynamo ONNX exporter writes opset 18 and newer.
MIN_OPSET = 18

Runner = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Tolerance:
    """The largest |logit difference| allowed, and where it came from."""

    atol: float
    fp32_roundoff: float | None  # PyTorch float32 vs float64; None where atol was given


@dataclass(frozen=True)
class Verification:
    """How an artefact was checked against the PyTorch model it came from."""

    runtime: str
    max_abs_err: float
    atol: float
    fp32_roundoff: float | None
    inputs: list[list[int]]  # the (N, C, H, W) shapes compared


@dataclass(frozen=True)
class Folding:
    """What :func:`fold_batchnorm` did: BN layers folded, those left, and the check."""

    folded: int
    left: list[str]
    max_abs_err: float
    atol: float


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    fmt: str,
    *,
    fold_bn: bool = False,
    opset: int | None = None,
    atol: float | None = None,
    normalization: str | None = None,
) -> dict[str, Any]:
    """Export a checkpoint (file or RUN_DIR, or foreign weights; ``normalization`` replaces
    the recorded one in the sidecar) to ``out`` and write the sidecar ``out.json``.

    Returns the sidecar's contents. Raises :class:`ExportError` when ``out`` cannot be
    written or the artefact (or the BN folding) misses the tolerance (``atol`` where given,
    else derived from the model's float32 round-off).
    """
    out = Path(out)
    check_options(fmt, fold_bn=fold_bn, opset=opset, atol=atol)
    check_writable(out)
    from reslab.evaluate.loading import load_any

    path, ckpt = load_any(checkpoint, normalization=normalization)
    model = model_from_checkpoint(ckpt).eval()
    in_chans, size = model.conv1.in_channels, int(ckpt["input_size"])
    inputs = sample_inputs(in_chans, size)

    folding = None
    if fold_bn:
        model, folding = fold_verified(model, inputs, atol)
    verification = export_model(model, out, fmt, inputs=inputs, opset=opset, atol=atol)
    sidecar = {
        "format": fmt,
        "file": out.name,
        "model": ckpt["model"],
        "classes": list(ckpt["classes"]),
        "normalization": ckpt["normalization"],
        "input_size": size,
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch", in_chans, "height", "width"],
            "dtype": "float32",
            "layout": "NCHW",
        },
        "output": {"name": OUTPUT_NAME, "shape": ["batch", len(ckpt["classes"])]},
        "opset": onnx_opset(out) if fmt == "onnx" else None,
        "bn_folding": asdict(folding) if folding else None,
        "verification": asdict(verification),
        "source": {
            "checkpoint": str(path),
            "iteration": ckpt.get("iteration"),
        },
        "versions": versions(fmt),
    }
    with atomic_path(sidecar_path(out)) as tmp:
        tmp.write_text(json.dumps(sidecar, indent=2) + "\n")
    return sidecar


def export_model(
    model: nn.Module,
    out: str | Path,
    fmt: str,
    *,
    inputs: Sequence[Tensor],
    opset: int | None = None,
    atol: float | None = None,
) -> Verification:
    """Write ``model`` (in eval mode) to ``out`` in ``fmt`` and verify it on ``inputs``
    (the first one traces); ``out`` is replaced only when the artefact passes."""
    check_choice("format", fmt, FORMATS)
    model = unwrap(model).eval()
    if fmt == "torchvision":
        from reslab.models.weights import torchvision_mismatch

        reason = torchvision_mismatch(model)
        if reason:
            raise OptionError(f"cannot export {out} in torchvision layout: {reason}")
    tol = tolerance(model, inputs, atol)
    with atomic_path(out) as tmp:
        _WRITERS[fmt](model, inputs[0], tmp, opset)
        err = max_abs_error(model, load_exported(tmp, fmt), inputs)
        if err > tol.atol:
            raise ExportError(
                f"the {fmt} export differs from PyTorch by up to {err:.3g} in the logits "
                f"({_describe(tol)}); {out} not written"
            )
    shapes = [list(x.shape) for x in inputs]
    return Verification(RUNTIMES[fmt], err, tol.atol, tol.fp32_roundoff, shapes)


def load_exported(path: str | Path, fmt: str) -> Runner:
    """A function from a float32 ``(N, C, H, W)`` batch to logits that runs the artefact
    at ``path`` with the runtime of its format."""
    check_choice("format", fmt, FORMATS)
    return _LOADERS[fmt](Path(path))


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every BatchNorm that directly follows a
    convolution folded into that convolution (which gains a bias).

    Post-activation and plain networks lose every BN. In a pre-activation network a unit's
    first BN reads the unit's input, which the shortcut reads too, and the final BN reads
    the last addition: no convolution feeds them alone, so they stay (see
    :func:`batchnorm_names`).
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = copy.deepcopy(unwrap(model)).eval()
    for conv_name, bn_name in conv_bn_pairs(folded):
        conv, bn = folded.get_submodule(conv_name), folded.get_submodule(bn_name)
        folded.set_submodule(conv_name, fuse_conv_bn_eval(conv, bn))
        folded.set_submodule(bn_name, nn.Identity())
    return folded


def conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """Names of (conv, BN) pairs where the BN reads the conv's output and nothing else
    does, found in the forward pass as ``torch.fx`` traces it."""
    graph = torch.fx.symbolic_trace(model).graph
    modules = dict(model.named_modules())
    calls = Counter(node.target for node in graph.nodes if node.op == "call_module")
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], nn.BatchNorm2d):
            continue
        source = node.args[0]
        if (
            isinstance(source, torch.fx.Node)
            and source.op == "call_module"
            and isinstance(modules[source.target], nn.Conv2d)
            and len(source.users) == 1
            and calls[source.target] == calls[node.target] == 1  # no shared modules
        ):
            pairs.append((source.target, node.target))
    return pairs


def fold_verified(
    model: nn.Module, inputs: Sequence[Tensor], atol: float | None = None
) -> tuple[nn.Module, Folding]:
    """:func:`fold_batchnorm`, checked against ``model`` on ``inputs``."""
    tol = tolerance(model, inputs, atol)
    folded = fold_batchnorm(model)
    err = max_abs_error(model, folded, inputs)
    if err > tol.atol:
        raise ExportError(
            f"BatchNorm folding changed the logits by up to {err:.3g} ({_describe(tol)})"
        )
    left = batchnorm_names(folded)
    return folded, Folding(len(batchnorm_names(model)) - len(left), left, err, tol.atol)


def batchnorm_names(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]


def sample_inputs(in_chans: int, size: int, seed: int = 0) -> list[Tensor]:
    """Normalised-image-like batches: the tracing shape (2, C, S, S), then batch 1, and
    batch 3 at 1.5 S x S, so that a batch or size baked into the artefact shows."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(2, in_chans, size, size), (1, in_chans, size, size),
              (3, in_chans, size + size // 2, size)]  # fmt: skip
    return [torch.randn(shape, generator=g) for shape in shapes]


@torch.no_grad()
def tolerance(model: nn.Module, inputs: Sequence[Tensor], atol: float | None = None) -> Tolerance:
    """``atol`` where given, else ``ROUNDOFF_FACTOR`` times ``model``'s float32 round-off
    on ``inputs`` (against a float64 copy), and at least ``MIN_ATOL``."""
    if atol is not None:
        return Tolerance(atol, None)
    exact = copy.deepcopy(model).double()
    roundoff = max(float((model(x).double() - exact(x.double())).abs().max()) for x in inputs)
    return Tolerance(max(MIN_ATOL, ROUNDOFF_FACTOR * roundoff), roundoff)


def _describe(tol: Tolerance) -> str:
    if tol.fp32_roundoff is None:
        return f"tolerance {tol.atol:.3g}"
    return (
        f"tolerance {tol.atol:.3g}: {ROUNDOFF_FACTOR} x the float32 round-off "
        f"{tol.fp32_roundoff:.3g}, at least {MIN_ATOL:g}"
    )


@torch.no_grad()
def max_abs_error(reference: nn.Module, candidate: Runner, inputs: Sequence[Tensor]) -> float:
    """The largest |difference| between the two models' outputs over ``inputs``."""
    return max(float((candidate(x) - reference(x)).abs().max()) for x in inputs)


def check_options(fmt: str, *, fold_bn: bool, opset: int | None, atol: float | None) -> None:
    """Reject a format, option combination or value that cannot work, before any work."""
    check_choice("format", fmt, FORMATS)
    if opset is not None and fmt != "onnx":
        raise OptionError(f"opset applies to format 'onnx' only; got format {fmt!r}")
    if opset is not None and opset < MIN_OPSET:
        raise OptionError(f"opset must be at least {MIN_OPSET} (torch.onnx); got {opset}")
    if fold_bn and fmt == "torchvision":
        raise OptionError("BN folding does not apply to format 'torchvision' (it keeps its BN)")
    if atol is not None and not atol > 0:
        raise OptionError(f"atol must be positive; got {atol!r}")


def check_writable(out: Path) -> None:
    """Fail before any work when ``out``'s directory cannot be made or written to."""
    if out.is_dir():
        raise ExportError(f"cannot write {out}: it is a directory")
    blocker = next(p for p in out.parents if p.exists())
    if not blocker.is_dir():
        raise ExportError(f"cannot write {out}: {blocker} is a file, not a directory")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out.parent):
            pass
    except OSError as err:
        raise ExportError(f"cannot write {out}: {err.strerror or err}") from None


def summary_lines(sidecar: dict[str, Any], out: str | Path) -> list[str]:
    """What ``reslab export`` prints: the files, the verification, the folding."""
    out = Path(out)
    fmt, check = sidecar["format"], sidecar["verification"]
    what = f"ONNX opset {sidecar['opset']}" if fmt == "onnx" else fmt
    lines = [
        f"wrote {out} ({what}, {out.stat().st_size / 1e6:.1f} MB) and {sidecar_path(out).name}",
        f"verified with {check['runtime']} on {len(check['inputs'])} inputs "
        f"({', '.join('x'.join(map(str, s)) for s in check['inputs'])}): "
        f"max |logit difference| {check['max_abs_err']:.2g} <= {check['atol']:.2g}",
    ]
    folding = sidecar["bn_folding"]
    if folding:
        total = folding["folded"] + len(folding["left"])
        line = (
            f"folded {folding['folded']} of {total} BatchNorm layers into convolutions "
            f"(max |logit difference| {folding['max_abs_err']:.2g})"
        )
        if folding["left"]:
            line += f"; {len(folding['left'])} stay: no convolution feeds them alone"
        lines.append(line)
    if fmt == "torchscript":
        lines.append("note: PyTorch deprecates TorchScript; exported-program is its successor")
    return lines


def sidecar_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".json")


def onnx_opset(path: Path) -> int:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def versions(fmt: str) -> dict[str, str]:
    from importlib.metadata import version

    from reslab import __version__

    found = {"reslab": __version__, "torch": torch.__version__}
    extra = {"onnx": ("onnx", "onnxruntime"), "torchvision": ("torchvision",)}.get(fmt, ())
    found.update({name: version(name) for name in extra})
    return found


# --- one writer and one loader per format ------------------------------------------------


def _dynamic_shapes() -> tuple[dict[int, Any]]:
    # Batch, height and width; torch.export infers their valid ranges from the model.
    dynamic = torch.export.Dim.DYNAMIC
    return ({0: dynamic, 2: dynamic, 3: dynamic},)


def _write_onnx(model: nn.Module, example: Tensor, path: Path, opset: int | None) -> None:
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


def _load_onnx(path: Path) -> Runner:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # Idle threads would otherwise spin for a while after each run, starving PyTorch.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(x: Tensor) -> Tensor:
        return torch.from_numpy(session.run(None, {INPUT_NAME: x.cpu().numpy()})[0])

    return run


def _write_torchscript(model: nn.Module, example: Tensor, path: Path, opset: int | None) -> None:
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


def _write_exported_program(
    model: nn.Module, example: Tensor, path: Path, opset: int | None
) -> None:
    program = torch.export.export(model, (example,), dynamic_shapes=_dynamic_shapes())
    with path.open("wb") as f:  # a file object: torch.export wants a path ending in .pt2
        torch.export.save(program, f)


def _load_exported_program(path: Path) -> Runner:
    with path.open("rb") as f:
        return torch.export.load(f).module()


def _write_torchvision(model: nn.Module, example: Tensor, path: Path, opset: int | None) -> None:
    from reslab.models.weights import save_torchvision

    save_torchvision(model, path)


def _load_torchvision(path: Path) -> Runner:
    from reslab.models.weights import torchvision_model

    return torchvision_model(torch.load(path, map_location="cpu", weights_only=True)).eval()


_WRITERS = {
    "onnx": _write_onnx,
    "torchscript": _write_torchscript,
    "exported-program": _write_exported_program,
    "torchvision": _write_torchvision,
}
_LOADERS = {
    "onnx": _load_onnx,
    "torchscript": _load_torchscript,
    "exported-program": _load_exported_program,
    "torchvision": _load_torchvision,
}
RUNTIMES = {
    "onnx": "onnxruntime (CPUExecutionProvider)",
    "torchscript": "torch.jit.load",
    "exported-program": "torch.export.load",
    "torchvision": "torchvision.models.resnet.ResNet",
}
