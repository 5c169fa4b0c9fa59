"""scripts/gpu_check.py, rehearsed on the CPU (``--tiny``) so that it works the day a GPU
is lent: every step runs and leaves its results under OUT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_gpu_check_rehearsal_leaves_bench_and_finished_runs(real_source, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "RESLAB_DATA": str(real_source.root), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "gpu_check.py"),
            str(out),
            "--tiny",
            "--data",
            str(real_source.path),
            "--minutes",
            "5",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    steps = json.loads((out / "gpu-check.json").read_text())
    assert steps["bench"]["status"] == 0, (out / "bench.log").read_text()
    assert json.loads((out / "bench" / "bench.json").read_text())["kind"] == "reslab.bench"
    runs = steps["runs"]
    assert len(runs) == 3 and {r["status"] for r in runs.values()} == {"finished"}, runs
    parity = json.loads((out / "runs/parity/resnet20-bf16-compiled-s2/summary.json").read_text())
    assert parity["precision"] == "bf16" and parity["seed"] == 2
