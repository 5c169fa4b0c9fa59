"""``reslab export``: round trips through each runtime within tolerance, verified BN folding,
the sidecar, and a one-line error for each bad input."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch
import torchvision

from reslab.checkpoint import load_checkpoint
from reslab.errors import ExportError, OptionError
from reslab.evaluate.export import (
    FORMATS,
    MIN_ATOL,
    export_checkpoint,
    export_model,
    load_exported,
    sample_inputs,
    torchvision_model,
)
from reslab.models import create_model, model_from_checkpoint

# One CIFAR model at its native size, one ImageNet model at a small size (fully convolutional).
MODELS = [("resnet20", 32), ("resnet18", 64)]


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "exported-program"])
@pytest.mark.parametrize(("name", "size"), MODELS)
def test_round_trip_within_tolerance(
    make_checkpoint, tmp_path: Path, name: str, size: int, fmt: str
) -> None:
    ckpt = make_checkpoint(name, input_size=size)
    out = tmp_path / "exported" / f"{name}.{fmt}"
    sidecar = export_checkpoint(ckpt, out, fmt)

    assert json.loads((tmp_path / "exported" / f"{name}.{fmt}.json").read_text()) == sidecar
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name, f"{out.name}.json"]
    check = sidecar["verification"]
    assert check["max_abs_err"] <= check["atol"] and check["atol"] >= MIN_ATOL
    assert [s[0] for s in check["inputs"]] == [2, 1, 3]  # traced with 2, checked with others
    saved = load_checkpoint(ckpt)
    assert sidecar["model"] == {"name": name, "options": {}}
    assert sidecar["normalization"] == saved["normalization"]  # copied as is
    assert sidecar["classes"] == saved["classes"]
    assert sidecar["input_size"] == size
    assert sidecar["input"]["shape"] == ["batch", 3, "height", "width"]
    assert sidecar["output"]["shape"] == ["batch", len(saved["classes"])]

    # A fresh batch size and a non-square size the export never saw.
    model = model_from_checkpoint(saved).eval()
    x = torch.randn(5, 3, size + size // 4, size - size // 4)
    with torch.no_grad():
        torch.testing.assert_close(load_exported(out, fmt)(x), model(x), atol=1e-4, rtol=0)


def test_folded_export_records_the_folding(make_checkpoint, tmp_path: Path, cli) -> None:
    ckpt = make_checkpoint("preact_resnet20")
    code, out, err = cli(
        "export",
        str(ckpt),
        "-f",
        "torchscript",
        "-o",
        str(tmp_path / "m.ts"),
        "--fold-bn",
        "--json",
    )
    assert code == 0, err
    folding = json.loads(out)["bn_folding"]
    assert folding["folded"] == 10 and len(folding["left"]) == 9
    assert folding["max_abs_err"] <= folding["atol"]


def test_torchvision_format_loads_into_torchvision(make_checkpoint, tmp_path: Path, cli) -> None:
    ckpt = make_checkpoint("resnet18", input_size=64)
    code, out, _ = cli("export", str(ckpt), "-f", "torchvision", "-o", str(tmp_path / "r18.pth"))
    assert code == 0 and "torchvision.models.resnet.ResNet" in out
    theirs = torchvision.models.resnet18(weights=None).eval()
    theirs.load_state_dict(torch.load(tmp_path / "r18.pth", weights_only=True))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ours = model_from_checkpoint(load_checkpoint(ckpt)).eval()
        torch.testing.assert_close(theirs(x), ours(x), atol=1e-5, rtol=0)


def test_onnx_writes_the_opset_asked_for(make_checkpoint, tmp_path: Path) -> None:
    sidecar = export_checkpoint(make_checkpoint(), tmp_path / "m.onnx", "onnx", opset=19)
    assert sidecar["opset"] == 19


@pytest.mark.parametrize("fmt", ["torchscript", "exported-program", "torchvision"])
def test_a_format_without_opsets_refuses_one(tmp_path: Path, fmt: str) -> None:
    """Issue 16: export_model took an opset for every format and ignored it but for ONNX."""
    model = create_model("resnet18" if fmt == "torchvision" else "resnet20").eval()
    with pytest.raises(
        OptionError, match=f"opset applies to format 'onnx' only; got format '{fmt}'"
    ):
        export_model(model, tmp_path / "m", fmt, inputs=sample_inputs(3, 32), opset=18)
    assert list(tmp_path.iterdir()) == []


def test_torchvision_runtime_is_torchvisions_own_resnet() -> None:
    theirs = torchvision.models.resnet50(weights=None).eval()
    runtime = torchvision_model(theirs.state_dict()).eval()
    assert type(runtime) is torchvision.models.ResNet
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(runtime(x), theirs(x), atol=0, rtol=0)


def test_drift_beyond_tolerance_fails_and_writes_nothing(
    make_checkpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loader = FORMATS["torchscript"].load
    drifting = dataclasses.replace(
        FORMATS["torchscript"], load=lambda p: lambda x: loader(p)(x) + 1e-3
    )
    monkeypatch.setitem(FORMATS, "torchscript", drifting)
    out = tmp_path / "m.ts"
    out.write_bytes(b"previous export")
    with pytest.raises(
        ExportError, match=r"differs from PyTorch by up to 0\.001 .*tolerance 0\.0001"
    ):
        export_checkpoint(make_checkpoint(), out, "torchscript")
    assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ts", "resnet20.pt"]


def test_cli_prints_files_and_verification(make_checkpoint, tmp_path: Path, cli) -> None:
    code, out, _ = cli(
        "export",
        str(make_checkpoint()),
        "--format",
        "torchscript",
        "--out",
        str(tmp_path / "m.ts"),
        "--atol",
        "1e-3",
    )
    assert code == 0
    assert f"wrote {tmp_path / 'm.ts'}" in out and "and m.ts.json" in out
    assert "verified with torch.jit.load on 3 inputs" in out and "<= 0.001" in out
    assert json.loads((tmp_path / "m.ts.json").read_text())["classes"][:2] == [
        "airplane",
        "automobile",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}/missing.pt", "-f", "onnx"], r"missing\.pt: no such checkpoint file"),
        (["{foreign}", "-f", "onnx"], r"foreign\.pt: not a reslab checkpoint"),
        (["{truncated}", "-f", "onnx"], r"cut\.pt: not a readable checkpoint \(truncated"),
        (["{other}", "-f", "onnx"], r"checkpoint weights do not fit model 'resnet32'"),
        (["{ckpt}", "-f", "tflite"], r"format must be one of 'onnx', 'torchscript', 'exported-"),
        (["{ckpt}", "-f", "torchscript", "--opset", "18"], r"opset applies to format 'onnx'"),
        (["{ckpt}", "-f", "onnx", "--opset", "13"], r"opset must be at least 18"),
        (["{ckpt}", "-f", "onnx", "--atol", "0"], r"atol must be positive"),
        (["{ckpt}", "-f", "torchvision"], r"export \S+/x in torchvision layout: torchvision has"),
        (["{ckpt}", "-f", "torchvision", "--fold-bn"], r"BN folding does not apply"),
    ],
)
def test_bad_input_is_one_line(make_checkpoint, tmp_path: Path, cli, args, message) -> None:
    ckpt = make_checkpoint()
    foreign = tmp_path / "foreign.pt"
    torch.save(create_model("resnet20").state_dict(), foreign)
    truncated = tmp_path / "cut.pt"
    truncated.write_bytes(ckpt.read_bytes()[:1000])
    other = make_checkpoint(path=tmp_path / "other.pt")
    raw = torch.load(other, weights_only=True)
    raw["model"]["name"] = "resnet32"
    torch.save(raw, other)
    paths = {
        "tmp": tmp_path,
        "ckpt": ckpt,
        "foreign": foreign,
        "truncated": truncated,
        "other": other,
    }

    code, out, err = cli("export", *(a.format(**paths) for a in args), "-o", str(tmp_path / "x"))
    assert code == 2 and out == ""
    assert err.startswith("reslab: error: ") and err.count("\n") == 1
    assert re.search(message, err), err
    assert not (tmp_path / "x").exists()


def test_unwritable_output_fails_before_any_work(make_checkpoint, tmp_path: Path, cli) -> None:
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "a-file" / "m.onnx"
    code, _, err = cli("export", str(make_checkpoint()), "-f", "onnx", "-o", str(out))
    assert code == 2
    assert err == f"reslab: error: cannot write {out}: {out.parent} is a file, not a directory\n"
