"""scripts/run-queue with a stand-in for `reslab train`: skipping finished runs and draining."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "run-queue"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="bash script")


def _fake_trainer(tmp_path: Path, seconds: float) -> Path:
    # Trains nothing: sleeps, then marks the run directory (the last argument) finished.
    fake = tmp_path / "fake-reslab"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        f"out=${{@: -1}}; sleep {seconds}\n"
        'echo \'{"status": "finished"}\' > "$out/summary.json"\n'
    )
    fake.chmod(0o755)
    return fake


def _queue(tmp_path: Path, names: list[str]) -> Path:
    queue = tmp_path / "queue.txt"
    lines = [f"reslab train --model {n} --out {tmp_path / n}" for n in names]
    queue.write_text("# a comment\n" + "\n".join(lines) + "\n")
    return queue


def _start(fake: Path, queue: Path) -> subprocess.Popen:
    env = {**os.environ, "RESLAB": str(fake)}
    return subprocess.Popen(
        ["bash", str(SCRIPT), str(queue)], env=env, stdout=subprocess.PIPE, text=True
    )


def test_runs_every_line_and_skips_finished_ones(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "summary.json").write_text(json.dumps({"status": "finished"}))
    worker = _start(_fake_trainer(tmp_path, 0), _queue(tmp_path, ["a", "b"]))
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0
    assert f"start {tmp_path / 'a'}" not in out
    assert f"start {tmp_path / 'b'}" in out
    assert (tmp_path / "b" / "summary.json").is_file()
    assert out.rstrip().endswith("queue done")


def test_sigusr1_finishes_the_current_run_and_starts_no_other(tmp_path):
    worker = _start(_fake_trainer(tmp_path, 2), _queue(tmp_path, ["a", "b"]))
    deadline = time.monotonic() + 30
    while not (tmp_path / "a").is_dir() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the stand-in is running
    worker.send_signal(signal.SIGUSR1)
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["status"] == "finished"
    assert not (tmp_path / "b").exists()
    assert out.rstrip().endswith("drained")
