"""``run.precision: auto`` and ``model.compile: auto``: what they pick, and that the fast
paths train like fp32 eager."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml

from reslab import bf16
from reslab.errors import ReslabWarning
from reslab.train import runtime
from reslab.train.config import resolve
from reslab.train.runtime import resolve_precision, resolve_runtime
from tests.train.conftest import TINY, Background, run_reslab, sigkilled_run, subprocess_env

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture
def bf16_units(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    bf16.cpu_bf16_units.cache_clear()
    yield
    bf16.cpu_bf16_units.cache_clear()


def test_auto_precision_is_fp32_on_a_cpu_without_bf16_units(no_bf16_units) -> None:
    assert resolve_precision("auto", CPU) == "fp32"
    assert resolve_precision("auto", CUDA) == "bf16"


def test_auto_precision_is_bf16_on_a_cpu_with_bf16_units_that_compute_right(bf16_units) -> None:
    assert bf16.cpu_bf16_units()  # the probe's bf16 matmul really ran and agreed
    assert resolve_precision("auto", CPU) == "bf16"


def test_a_bf16_matmul_that_computes_wrong_keeps_fp32(bf16_units, monkeypatch) -> None:
    real = torch.Tensor.__matmul__

    def broken(a, b):
        out = real(a, b)
        return out * 2 if out.dtype == torch.bfloat16 else out

    monkeypatch.setattr(torch.Tensor, "__matmul__", broken)
    assert resolve_precision("auto", CPU) == "fp32"


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_an_explicit_precision_is_kept(precision: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReslabWarning)
        assert resolve_precision(precision, CPU) == precision


def test_explicit_bf16_on_a_cpu_without_bf16_units_warns_and_is_kept(no_bf16_units) -> None:
    # A queue that pins bf16 ran at 0.07x of fp32 on an AVX2 CPU (results/bench/cpu-avx2).
    with pytest.warns(ReslabWarning, match="emulates bf16"):
        assert resolve_precision("bf16", CPU) == "bf16"


@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_no_emulation_warning_without_explicit_bf16(no_bf16_units, precision: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReslabWarning)
        resolve_precision(precision, CPU)


def test_no_emulation_warning_with_bf16_units_or_on_cuda(bf16_units) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReslabWarning)
        assert resolve_precision("bf16", CPU) == "bf16"
        assert resolve_precision("bf16", CUDA) == "bf16"


def _config(iterations: int, compile_="auto"):
    config = resolve("cifar-paper", flags={"model.compile": compile_})
    return replace(config, schedule=replace(config.schedule, iterations=iterations))


def test_auto_compiles_long_runs_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "compiler_works", lambda device_type: True)
    short = resolve_runtime(_config(runtime.COMPILE_MIN_ITERATIONS - 1), CPU)
    long = resolve_runtime(_config(runtime.COMPILE_MIN_ITERATIONS), CPU)
    assert short.model.compile is False and long.model.compile is True
    assert short.run.precision in ("fp32", "bf16")  # concrete, never "auto"


@pytest.mark.parametrize("asked", ["auto", True])
def test_a_broken_compiler_falls_back_to_eager_with_one_warning(monkeypatch, asked) -> None:
    def no_compiler(*args, **kwargs):
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")

    monkeypatch.setattr(torch, "compile", no_compiler)
    runtime.compiler_works.cache_clear()
    try:
        with pytest.warns(UserWarning, match="torch.compile does not work.*training eagerly"):
            config = resolve_runtime(_config(64_000, asked), CPU)
        assert config.model.compile is False
    finally:
        runtime.compiler_works.cache_clear()


def test_compile_accepts_true_false_and_auto_and_names_them_in_errors() -> None:
    from reslab.errors import OptionError

    for value in (True, False, "auto"):
        assert resolve("cifar-paper", sets=[f"model.compile={value}"]).model.compile == value
    with pytest.raises(OptionError, match=r"model.compile must be 'auto' or bool; got 'fast'"):
        resolve("cifar-paper", sets=["model.compile=fast"])


def test_bf16_steps_track_fp32_steps_with_fp32_master_weights() -> None:
    """A few SGD steps under bf16 autocast follow the fp32 ones closely; weights, momenta
    and BN statistics stay fp32."""
    from reslab.models import create_model

    torch.manual_seed(0)
    x, y = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
    losses, models = {}, {}
    for dtype in (None, torch.bfloat16):
        torch.manual_seed(0)
        model = create_model("resnet20")
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        run = []
        for _ in range(4):
            with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
                logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits.float(), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.append(loss.item())
        losses[dtype], models[dtype] = run, model
    fp32, bf16 = losses[None], losses[torch.bfloat16]
    assert all(abs(a - b) < 0.05 * a for a, b in zip(fp32, bf16, strict=True)), (fp32, bf16)
    assert bf16[-1] < bf16[0]  # it learns
    state = models[torch.bfloat16].state_dict()
    assert all(v.dtype in (torch.float32, torch.int64) for v in state.values())
    var32, var16 = (models[d].bn1.running_var for d in (None, torch.bfloat16))
    assert torch.allclose(var32, var16, rtol=0.05, atol=1e-3)


def test_the_run_directory_records_the_precision_and_compilation_used(
    tiny_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = [*TINY, "--data", str(tiny_data), "--iterations", "3", "--set", "run.eval_every=3"]
    run_reslab("train", *args, "--out", str(out), env=subprocess_env(tmp_path))
    config = yaml.safe_load((out / "config.yaml").read_text())
    expected = resolve_precision("auto", CPU)
    assert config["run"]["precision"] == expected and config["model"]["compile"] is False
    summary = (out / "summary.json").read_text()
    assert f'"precision": "{expected}"' in summary and '"compiled": false' in summary


def test_a_bf16_run_records_whether_bf16_units_or_the_emulation_computed_it(
    tiny_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = [*TINY, "--data", str(tiny_data), "--iterations", "3", "--set", "run.eval_every=3"]
    args += ["--set", "run.precision=bf16"]
    run_reslab("train", *args, "--out", str(out), env=subprocess_env(tmp_path))
    env = json.loads((out / "env.json").read_text())
    kernels = "native" if bf16.cpu_bf16_units() else "emulated"
    assert env["precision"] == "bf16" and env["bf16"] == kernels


def test_a_compiled_run_resumes_bit_for_bit_after_sigkill(tiny_data: Path, tmp_path: Path) -> None:
    """CPU inductor: the checkpoint keeps the bare model's names, and a resumed compiled
    run ends with the same weights as an uninterrupted one."""
    env = subprocess_env(tmp_path)
    args = [
        *TINY,
        "--data",
        str(tiny_data),
        "--iterations",
        "40",
        "--set",
        "model.compile=true",
        "--set",
        "run.checkpoint_every=5",
        "--set",
        "run.eval_every=20",
    ]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    # The uninterrupted run alongside (one thread each: two cores).
    uninterrupted = Background(
        "train", *args, "--out", str(straight), env=env, log=tmp_path / "log"
    )
    sigkilled_run("train", *args, out=killed, env=env, at_least=10)
    run_reslab("train", "--resume", str(killed), env=env)
    uninterrupted.finish()
    a, b = (
        torch.load(d / "checkpoints" / "latest.pt", weights_only=True)["state_dict"]
        for d in (straight, killed)
    )
    assert not any(k.startswith("_orig_mod") for k in a)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
