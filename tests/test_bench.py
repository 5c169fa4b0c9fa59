"""``reslab bench`` on the CPU with tiny settings: every field present, positive and
consistent with the measured rates. Numbers are never asserted against a speed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from reslab.bench import BenchOptions, run_bench
from reslab.models import describe
from reslab.train.runtime import resolve_precision

TINY = [
    "--model",
    "resnet20",
    "--device",
    "cpu",
    "--batch",
    "8",
    "--steps",
    "2",
    "--warmup",
    "1",
    "--workers",
    "0",
    "--compile",
    "off",
]
RATES = ("reslab_train", "reslab_infer", "torchvision_train", "bare_train")
ROW_KEYS = {
    "model",
    "input_size",
    "data",
    "images",
    "macs_per_image",
    "speedup_vs_torchvision",
    "pipeline_efficiency",
    "memory",
    "settings",
    *(f"{r}_{suffix}" for r in RATES for suffix in ("images_per_s", "flops_per_s", "peak_share")),
}


def check_row(row: dict, peak: float) -> None:
    assert row.keys() == ROW_KEYS
    for r in RATES:
        rate = row[f"{r}_images_per_s"]
        assert rate > 0
        forwards = 1 if r == "reslab_infer" else 3  # training ~ 3 forwards; 1 MAC = 2 FLOP
        flops = rate * row["macs_per_image"] * 2 * forwards
        assert row[f"{r}_flops_per_s"] == pytest.approx(flops)
        assert row[f"{r}_peak_share"] == pytest.approx(flops / peak)
    assert row["speedup_vs_torchvision"] == pytest.approx(
        row["reslab_train_images_per_s"] / row["torchvision_train_images_per_s"]
    )
    assert row["pipeline_efficiency"] == pytest.approx(
        row["reslab_train_images_per_s"] / row["bare_train_images_per_s"]
    )


def test_cli_bench_writes_json_and_markdown(cli, tmp_path: Path) -> None:
    code, out, err = cli("bench", *TINY, "--memory", "--json", "--out", str(tmp_path))
    assert code == 0, err
    result = json.loads(out)
    assert json.loads((tmp_path / "bench.json").read_text()) == result
    assert result["kind"] == "reslab.bench"
    s, env, peak = result["settings"], result["environment"], result["matmul_peak"]
    assert (s["batch"], s["steps"], s["warmup"], s["workers"]) == (8, 2, 1, 0)
    assert s["device"] == "cpu" and s["threads"] >= 1 and s["compile"] is False
    assert s["precision"] == resolve_precision("auto", torch.device("cpu"))
    assert {"hardware", "torch", "cpu_count", "torch_threads"} <= env.keys()
    assert peak["dtype"] == {"fp32": "float32", "bf16": "bfloat16"}[s["precision"]]
    assert [p["dtype"] for p in result["matmul_peaks"]] == ["float32", "bfloat16"]
    assert peak in result["matmul_peaks"] and all(
        p["flops_per_s"] > 0 for p in result["matmul_peaks"]
    )
    [row] = result["models"]
    check_row(row, peak["flops_per_s"])
    assert row["data"] == "synthetic uint8" and row["input_size"] == 32
    assert row["macs_per_image"] == describe("resnet20")["macs"]
    memory = row["memory"]
    assert memory["batch"] == 8 and "profiler" in memory["method"]
    # Activation checkpointing keeps one tensor per unit instead of all of them.
    assert 0 < memory["bytes_checkpointed"] < memory["bytes"]
    assert memory["saved_share"] == pytest.approx(
        1 - memory["bytes_checkpointed"] / memory["bytes"]
    )
    md = (tmp_path / "bench.md").read_text()
    assert "| resnet20 (32px) |" in md and env["hardware"] in md
    assert "wrote" in err


def test_bench_on_real_images(real_source) -> None:
    opts = BenchOptions(
        models=("resnet20",),
        device="cpu",
        batch=8,
        steps=2,
        warmup=1,
        workers=1,
        data=str(real_source.path),
        root=str(real_source.root),
        matmul_size=256,
        compile=False,
    )
    result = run_bench(opts)
    [row] = result["models"]
    check_row(row, result["matmul_peak"]["flops_per_s"])
    assert row["data"] == f"real: {real_source.path}" and row["images"] == 50_000
    assert row["memory"] is None and result["settings"]["workers"] == 1


def tiny_options(**options) -> BenchOptions:
    """ResNet-20, one step of 4 images, a 64^2 peak matmul, eager: a bench of seconds."""
    tiny = dict(models=("resnet20",), device="cpu", batch=4, steps=1, warmup=0, workers=0)
    return BenchOptions(**tiny, matmul_size=64, compile=False, **options)


def test_the_matrix_measures_each_precision_and_compilation(monkeypatch) -> None:
    """fp32/bf16 x eager/compiled, each a positive rate; a compiler that does not work
    here leaves its columns empty instead of failing the bench."""
    from reslab.bench import bench_markdown
    from reslab.train import runtime

    monkeypatch.setattr(runtime, "compiler_works", lambda device_type: False)
    opts = tiny_options(matrix=True)
    result = run_bench(opts)
    [row] = result["models"]
    rates = row["settings"]
    assert list(rates) == ["fp32-eager", "fp32-compiled", "bf16-eager", "bf16-compiled"]
    assert rates["fp32-compiled"] is None and rates["bf16-compiled"] is None
    assert rates["fp32-eager"] > 0 and rates["bf16-eager"] > 0
    assert "| resnet20 | " in bench_markdown(result) and "(1.00x) | - |" in bench_markdown(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "resnet21"], "unknown model 'resnet21'"),
        (["--compile", "fast"], "--compile must be auto, on or off; got 'fast'"),
        (["--batch", "0"], "--batch must be at least 1; got 0"),
        (["--warmup", "-1"], "--warmup must be >= 0; got -1"),
    ],
)
def test_bad_options_are_one_line_errors(cli, args: list[str], message: str) -> None:
    code, _, err = cli("bench", "--device", "cpu", *args)
    assert code == 2 and message in err and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(cli) -> None:
    code, _, err = cli("bench", *TINY[:2], "--device", "cuda")
    assert code == 2 and "PyTorch sees no CUDA device" in err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bench_on_cuda_uses_bf16_fused_sgd_and_cuda_memory() -> None:
    from reslab.bench import bench_session, synthetic_images

    result = run_bench(
        BenchOptions(
            models=("resnet20",), device="cuda", batch=16, steps=2, warmup=1, workers=0, memory=True
        )
    )
    assert result["settings"]["precision"] == "bf16"
    assert result["matmul_peak"]["dtype"] == "bfloat16"
    [row] = result["models"]
    check_row(row, result["matmul_peak"]["flops_per_s"])
    assert "max_memory_allocated" in row["memory"]["method"]
    assert 0 < row["memory"]["bytes_checkpointed"] < row["memory"]["bytes"]
    s = bench_session("resnet20", synthetic_images(32, 16, 10), 16, torch.device("cuda"))
    assert s.optimizer.defaults["fused"] is True
    assert torch.backends.cudnn.benchmark


def test_the_cpu_peak_shrinks_its_matmul_where_the_dtype_is_emulated(monkeypatch) -> None:
    # Emulated bf16 ran a 2048^2 matmul at 0.3 GFLOP/s on an AVX2 CPU: minutes per peak.
    from reslab import bench

    sizes = []
    real_mm = torch.mm

    def slow_above_512(a, b):
        sizes.append(a.shape[0])
        if a.shape[0] > 512:
            time.sleep(0.6)
        return real_mm(a, b)

    monkeypatch.setattr(torch, "mm", slow_above_512)
    peak = bench.matmul_peak(torch.device("cpu"), dtype=torch.float32)
    assert peak["size"] == 512 and max(sizes) == 1024
    assert sizes.count(1024) == 1  # only the probe ran at the size that is too slow


@pytest.mark.parametrize("emulated", [True, False])
def test_emulated_bf16_is_measured_against_the_fp32_peak(monkeypatch, emulated: bool) -> None:
    # The emulation runs fp32 kernels. Against torch's slow bf16 fallback (1.2 GFLOP/s on an
    # AVX2 CPU: results/bench/cpu-avx2-workers) the step's share read about 50x the peak.
    from reslab import bench

    monkeypatch.setattr(bench, "emulated", lambda device, precision: emulated)
    opts = tiny_options(precision="bf16")
    result = run_bench(opts)
    assert result["matmul_peak"]["dtype"] == ("float32" if emulated else "bfloat16")
    check_row(result["models"][0], result["matmul_peak"]["flops_per_s"])
