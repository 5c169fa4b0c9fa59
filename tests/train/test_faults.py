"""benchmarks/fault_injection.py, small: three SIGKILLs at random moments of a short run,
each followed by what a user would run next; the final weights and metrics must equal an
uninterrupted run's. The full version (27 kills) runs on purpose, not in the suite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ..conftest import REPO


def test_random_kills_end_with_the_uninterrupted_weights(tiny_data: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "fault_injection.py"),
            "--data",
            str(tiny_data),
            "--kills",
            "3",
            "--iterations",
            "12",
            "--subset-per-class",
            "24",
            "--test-per-class",
            "8",
            "--seed",
            "1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout.splitlines()[-1])
    assert report["equal"] and report["kills"] >= 1
