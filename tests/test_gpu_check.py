"""scripts/gpu_check.py, rehearsed on the CPU (``--tiny``) so that it works the day a GPU
is lent: every step runs, and OUT holds what the device tool can bring back."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "gpu_check.py"


def _queue_lines(*names: str) -> str:
    lines = REPO.joinpath("scripts", "queue-cpu.txt").read_text().splitlines()
    return "\n".join(line for line in lines if line.rsplit("/", 1)[-1] in names) + "\n"


def test_gpu_check_rehearsal_trains_what_the_study_lacks(real_source, tmp_path: Path) -> None:
    queue, results = tmp_path / "queue.txt", tmp_path / "results"
    queue.write_text(_queue_lines("resnet20-s0", "plain20-s0"))
    committed = results / "medium" / "resnet20-s0"  # not trained again
    committed.mkdir(parents=True)
    (committed / "summary.json").write_text('{"status": "finished"}')
    out, work = tmp_path / "out", tmp_path / "work"
    env = {**os.environ, "RESLAB_DATA": str(real_source.root), "OMP_NUM_THREADS": "1"}
    options = ["--tiny", "--minutes", "5", "--data", str(real_source.path)]
    options += ["--work", str(work), "--queue", str(queue), "--results", str(results)]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(out), *options],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    # The device tool brings back at most 8 files, none more than two folders down.
    assert len(list(out.iterdir())) <= 8 and all(f.is_file() for f in out.iterdir())
    steps = json.loads((out / "gpu-check.json").read_text())
    trained = {Path(d).relative_to(work).as_posix(): r["status"] for d, r in steps["runs"].items()}
    assert trained == {
        "reproduce/medium/plain20-s0": "finished",  # the queue's
        "reproduce/medium/resnet20-shortcutB-s0": "finished",
        "reproduce/medium/resnet20-shortcutC-s0": "finished",
        "reproduce/paper/resnet20-s0": "finished",  # --tiny: the first of the paper budget
    }
    assert steps["bench-resnet20"]["status"] == 0 and steps["left_behind"] == []

    back = tmp_path / "back"  # what a session unpacks from the device tool's files
    back.mkdir()
    for archive in out.glob("*.tar*"):
        with tarfile.open(archive) as tar:
            tar.extractall(back, filter="data")
    run = back / "reproduce" / "medium" / "plain20-s0"
    assert json.loads((run / "summary.json").read_text())["status"] == "finished"
    assert (run / "responses.json").is_file() and (run / "checkpoints" / "final.pt").is_file()
    config = (run / "config.yaml").read_text()
    assert "precision: bf16" in config  # the queue line's own settings, tiny ones added
    assert f"source: {real_source.path}" in config  # --data, not the queue's ../shared
    assert json.loads((back / "bench" / "resnet20" / "bench.json").read_text())["kind"] == (
        "reslab.bench"
    )


def _load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FAKE_TRAINER = """
import json, signal, sys, time
out = sys.argv[sys.argv.index("--out") + 1]
def stop(*_):
    json.dump({"status": "interrupted"}, open(out + "/summary.json", "w"))
    sys.exit(3)
signal.signal(signal.SIGTERM, stop if "--set" in sys.argv else signal.SIG_IGN)
import pathlib; pathlib.Path(out).mkdir(parents=True, exist_ok=True)
time.sleep(60)
"""


def test_runs_at_the_deadline_get_sigterm_then_sigkill(tmp_path: Path, monkeypatch) -> None:
    # A run that checkpoints on SIGTERM exits 3 (interrupted); one that does not answer it
    # is killed once SAVE_S is over, so that the packing still happens.
    gpu_check = _load_script()
    trainer = tmp_path / "trainer.py"
    trainer.write_text(FAKE_TRAINER)
    monkeypatch.setattr(gpu_check, "_reslab", lambda *a: [sys.executable, str(trainer), *a])
    monkeypatch.setattr(gpu_check, "START_S", 0)
    monkeypatch.setattr(gpu_check, "SAVE_S", 1)
    saves, ignores, late = (tmp_path / name for name in ("saves", "ignores", "late"))
    plan = {saves: ["--set", "x=1"], ignores: [], late: []}
    result = gpu_check._train(plan, parallel=2, deadline=time.monotonic() + 2)
    assert result[str(saves)]["returncode"] == 3 and result[str(saves)]["status"] == "interrupted"
    assert result[str(ignores)]["returncode"] == -signal.SIGKILL
    assert result[str(late)] == {"status": "not started: no time left"}


def test_pack_puts_resumable_weights_first_and_names_what_does_not_fit(
    tmp_path: Path, monkeypatch
) -> None:
    gpu_check = _load_script()
    monkeypatch.setattr(gpu_check, "PART_BYTES", 100)
    monkeypatch.setattr(gpu_check, "MAX_PARTS", 2)
    work = tmp_path / "work"
    runs = {"a-finished": ("finished", "final.pt", 60), "b-finished": ("finished", "final.pt", 60)}
    runs["c-unfinished"] = ("unfinished", "latest.pt", 70)
    for name, (status, weights, size) in runs.items():
        ckpt = work / "reproduce" / "paper" / name / "checkpoints"
        ckpt.mkdir(parents=True)
        (ckpt.parent / "summary.json").write_text(json.dumps({"status": status}))
        (ckpt / weights).write_bytes(b"w" * size)
        (ckpt / "latest.prev.pt").write_bytes(b"p" * size)  # never shipped
    left = gpu_check._pack(work, tmp_path / "out")

    packed = {}
    for i in range(2):
        with tarfile.open(tmp_path / "out" / f"checkpoints-{i}.tar") as tar:
            packed[i] = [m.name.split("/")[2] for m in tar.getmembers()]
    assert packed == {0: ["c-unfinished"], 1: ["a-finished"]}  # resumable first, first fit
    assert left == ["reproduce/paper/b-finished/checkpoints/final.pt"]
    with tarfile.open(tmp_path / "out" / "results.tar.gz") as tar:
        names = tar.getnames()
    assert "reproduce/paper/a-finished/summary.json" in names
    assert not [n for n in names if n.endswith(".pt")]
