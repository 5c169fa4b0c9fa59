"""The training loop end to end on a tiny image folder: run directory, checkpoints, resume."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pytest
import torch
import yaml

from reslab.analysis.runs import EVAL_KEYS, SUMMARY_KEYS, TRAIN_KEYS, read_run
from reslab.checkpoint import load_checkpoint
from reslab.models import model_from_checkpoint

from .conftest import (
    TINY,
    Background,
    reslab_cmd,
    run_reslab,
    sigkilled_run,
    subprocess_env,
    wait_for_checkpoint,
)


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def test_a_run_directory_holds_everything(tiny_data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    env = subprocess_env(tmp_path)
    proc = run_reslab(
        "train",
        *TINY,
        "--data",
        str(tiny_data),
        "--out",
        str(run),
        "--iterations",
        "12",
        "--set",
        "run.eval_every=6",
        env=env,
    )
    assert "resnet20: test top-1 error" in proc.stdout
    assert proc.stdout.splitlines()[-1] == f"run directory: {run}"
    header = proc.stderr.split(" it 5/12")[0]  # printed once, before the first record
    assert "model     resnet20, 2" in header and f"run dir   {run}" in header
    assert "RGB (3 channels)" in header and "resuming" not in header

    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["name"] == "resnet20" and config["recipe"] == "cifar-paper"
    assert config["schedule"]["iterations"] == 12
    assert config["schedule"]["milestones"] == [6, 9]  # 32k/48k of 64k, scaled to 12
    env_json = json.loads((run / "env.json").read_text())
    assert {"torch", "hardware", "command", "git_commit"} <= env_json.keys()

    records = _records(run)
    train = [r for r in records if r["kind"] == "train"]
    evals = [r for r in records if r["kind"] == "eval"]
    assert all(r.keys() == TRAIN_KEYS for r in train)  # the contract analysis reads
    assert all(r.keys() == EVAL_KEYS for r in evals)
    assert [r["iteration"] for r in train] == [5, 10, 12]
    assert [r["iteration"] for r in evals] == [6, 12] and {r["split"] for r in evals} == {"test"}
    assert {"lr", "train_loss", "train_top1_err", "images_per_s", "epoch"} <= train[0].keys()
    assert {"loss", "top1_err", "top5_err", "images"} <= evals[0].keys()
    assert evals[0]["images"] == 32
    assert train[0]["epoch"] == pytest.approx(5 / 6)  # 96 images / batch 16 = 6 per epoch

    summary = json.loads((run / "summary.json").read_text())
    assert summary.keys() >= SUMMARY_KEYS
    assert summary["status"] == "finished"
    assert summary["iterations"] == 12 and summary["epochs"] == 2.0
    assert summary["final_train_top1_err"] == train[-1]["train_top1_err"]
    assert read_run(run).test_err == summary["test_top1_err"]
    assert summary["train_images"] == 96
    assert summary["test_top1_err"] == evals[-1]["top1_err"]
    assert summary["best_val_top1_err"] is None

    ckpt = load_checkpoint(run)  # final.pt: the weights the summary reports
    assert ckpt["iteration"] == 12 and "train_state" not in ckpt
    assert ckpt["classes"] == ["ant", "bee", "cat", "dog"] and ckpt["input_size"] == 16
    model = model_from_checkpoint(ckpt)
    assert model.fc.out_features == 4
    assert "train_state" in load_checkpoint(run / "checkpoints" / "latest.pt")

    from reslab.train.session import run_test_loader  # what reproduce's Fig. 7 reads

    batches = list(run_test_loader(run).batches(0))
    assert sum(len(y) for _, y in batches) == evals[0]["images"]
    assert batches[0][0].dtype == torch.float32 and batches[0][0].shape[1:] == (3, 16, 16)


def test_validation_split_selects_the_best_checkpoint(tiny_data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_reslab(
        "train",
        *TINY,
        "--data",
        str(tiny_data),
        "--out",
        str(run),
        "--iterations",
        "8",
        "--set",
        "data.val_split=16",
        "--set",
        "run.eval_every=4",
        env=subprocess_env(tmp_path),
    )
    summary = json.loads((run / "summary.json").read_text())
    assert summary["train_images"] == 80
    assert summary["best_val_iteration"] in (4, 8)
    vals = [r for r in _records(run) if r["kind"] == "eval" and r["split"] == "val"]
    assert summary["best_val_top1_err"] == min(r["top1_err"] for r in vals)
    assert all(r["images"] == 16 for r in vals)


def test_resume_after_sigkill_ends_with_the_same_weights(tiny_data: Path, tmp_path: Path) -> None:
    env = subprocess_env(tmp_path)
    args = [
        *TINY,
        "--data",
        str(tiny_data),
        "--iterations",
        "150",
        "--set",
        "run.checkpoint_every=5",
        "--set",
        "run.eval_every=50",
    ]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    # The uninterrupted run alongside (one thread each: two cores).
    uninterrupted = Background(
        "train", *args, "--out", str(straight), env=env, log=tmp_path / "log"
    )
    at = sigkilled_run("train", *args, out=killed, env=env, at_least=20)
    assert at % 6 != 0 or at < 150  # stopped somewhere inside the run
    assert not (killed / "summary.json").exists()

    resumed = run_reslab("train", "--resume", str(killed), env=env)
    resumed_at = re.search(r"resuming from iteration (\d+) of 150", resumed.stderr)
    assert resumed_at and int(resumed_at[1]) >= at  # a later checkpoint may beat the kill
    uninterrupted.finish()
    a = _weights(straight / "checkpoints" / "latest.pt")
    b = _weights(killed / "checkpoints" / "latest.pt")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)

    strip = ("images_per_s", "elapsed_s")
    ra = [{k: v for k, v in r.items() if k not in strip} for r in _records(straight)]
    rb = [{k: v for k, v in r.items() if k not in strip} for r in _records(killed)]
    assert ra == rb


def test_sigterm_checkpoints_and_exits_cleanly(tiny_data: Path, tmp_path: Path) -> None:
    env = subprocess_env(tmp_path)
    run = tmp_path / "run"
    proc = subprocess.Popen(
        reslab_cmd(
            "train",
            *TINY,
            "--data",
            str(tiny_data),
            "--out",
            str(run),
            "--iterations",
            "100000",
            "--set",
            "run.checkpoint_every=5",
        ),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_checkpoint(proc, run / "checkpoints" / "latest.pt", at_least=5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err  # interrupted, resumable (docs/training.md)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    latest = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert latest["iteration"] == summary["iterations"]
    assert f"--resume {run}" in err


def test_divergence_stops_with_a_clear_message(tiny_data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = run_reslab(
        "train",
        *TINY,
        "--data",
        str(tiny_data),
        "--out",
        str(run),
        "--iterations",
        "40",
        "--set",
        "optim.lr=1e30",
        env=subprocess_env(tmp_path),
        check=False,
    )
    assert proc.returncode == 4  # diverged (docs/training.md)
    assert "reslab: error: " in proc.stderr and "became" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert json.loads((run / "summary.json").read_text())["status"] == "diverged"


def test_the_clock_leaves_paused_work_out_of_the_interval(monkeypatch) -> None:
    """images/s counts training time only; the run's wall time counts everything."""
    from types import SimpleNamespace

    from reslab.train import loop

    now = [100.0]
    monkeypatch.setattr(loop.time, "monotonic", lambda: now[0])
    s = SimpleNamespace(meter=SimpleNamespace(seconds=0.0), state=SimpleNamespace(wall_s=7.0))
    clock = loop._Clock(s)
    now[0] += 2.0  # training
    with clock.paused():  # evaluation
        now[0] += 5.0
    now[0] += 1.0  # training
    clock.settle()
    assert s.meter.seconds == 3.0 and s.state.wall_s == 7.0 + 8.0
