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
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from reslab.checkpoint import unwrap
from reslab.errors import ExportError, OptionError
from reslab.evaluate.formats import (
    FORMATS,
    INPUT_NAME,
    OUTPUT_NAME,
    Runner,
    check_opset,
    format_spec,
    load_exported,
    torchvision_model,
)
from reslab.fileio import atomic_path, write_json
from reslab.models import model_from_checkpoint
from reslab.models.fold import batchnorm_names, fold_batchnorm

# load_exported and torchvision_model live with the formats; this module is the public API.
__all__ = [
    "FORMATS",
    "MIN_ATOL",
    "Folding",
    "Tolerance",
    "Verification",
    "export_checkpoint",
    "export_model",
    "fold_verified",
    "load_exported",
    "sample_inputs",
    "summary_lines",
    "tolerance",
    "torchvision_model",
]

MIN_ATOL = 1e-4
ROUNDOFF_FACTOR = 10


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
    """What :func:`~reslab.models.fold.fold_batchnorm` did: BN layers folded, those left,
    and the check."""

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
    spec = FORMATS[fmt]
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
        "opset": spec.read_opset(out) if spec.read_opset else None,
        "bn_folding": asdict(folding) if folding else None,
        "verification": asdict(verification),
        "source": {
            "checkpoint": str(path),
            "iteration": ckpt.get("iteration"),
        },
        "versions": versions(spec.packages),
    }
    write_json(sidecar_path(out), sidecar)
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
    (the first one traces); ``out`` is replaced only when the artefact passes. ``opset``
    only for a format that has opsets (ONNX)."""
    spec = format_spec(fmt)
    check_opset(spec, opset)
    model = unwrap(model).eval()
    reason = spec.refuses(model) if spec.refuses else None
    if reason:
        raise OptionError(f"cannot export {out} in {fmt} layout: {reason}")
    tol = tolerance(model, inputs, atol)
    with atomic_path(out) as tmp:
        spec.write(model, inputs[0], tmp, **({} if spec.min_opset is None else {"opset": opset}))
        err = max_abs_error(model, spec.load(tmp), inputs)
        if err > tol.atol:
            raise ExportError(
                f"the {fmt} export differs from PyTorch by up to {err:.3g} in the logits "
                f"({_describe(tol)}); {out} not written"
            )
    shapes = [list(x.shape) for x in inputs]
    return Verification(spec.runtime, err, tol.atol, tol.fp32_roundoff, shapes)


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


def sample_inputs(in_chans: int, size: int, seed: int = 0) -> list[Tensor]:
    """Normalised-image-like batches: the tracing shape (2, C, S, S), then batch 1, and
    batch 3 at 1.5 S x S, so that a batch or size baked into the artefact shows."""
    g = torch.Generator().manual_seed(seed)
    shapes = [
        (2, in_chans, size, size),
        (1, in_chans, size, size),
        (3, in_chans, size + size // 2, size),
    ]
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
    spec = format_spec(fmt)
    check_opset(spec, opset)
    if fold_bn and not spec.folds_bn:
        raise OptionError(f"BN folding does not apply to format {fmt!r} (it keeps its BN)")
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
    spec = FORMATS[fmt]
    what = f"{spec.title} opset {sidecar['opset']}" if sidecar["opset"] is not None else fmt
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
    if spec.note:
        lines.append(f"note: {spec.note}")
    return lines


def sidecar_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".json")


def versions(packages: Sequence[str] = ()) -> dict[str, str]:
    """Versions of reslab, torch and ``packages`` (a format's own), for the sidecar."""
    from importlib.metadata import version

    from reslab import __version__

    found = {"reslab": __version__, "torch": torch.__version__}
    found.update({name: version(name) for name in packages})
    return found
