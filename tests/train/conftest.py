"""A tiny image-folder dataset and helpers to run ``reslab train`` in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CLASSES = ("ant", "bee", "cat", "dog")


def write_image_folder(root: Path, per_class: dict[str, int], size: int = 16) -> Path:
    """train/ and test/ folders of small PNGs whose colour depends on the class, so that a
    few iterations are enough to learn something."""
    rng = np.random.default_rng(0)
    for split, n in per_class.items():
        for k, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                base = np.zeros((size, size, 3), np.float32)
                base[..., k % 3] = 120 + 60 * (k // 3)
                noise = rng.normal(0, 40, (size, size, 3))
                pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_image_folder(tmp_path_factory.mktemp("tiny"), {"train": 24, "test": 8})


TINY = [
    "--model",
    "resnet20",
    "--recipe",
    "cifar-paper",
    "--set",
    "optim.batch_size=16",
    "--set",
    "run.log_every=5",
    "--set",
    "data.eval_batch_size=16",
]


def reslab_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "reslab", *args]


def subprocess_env(tmp_path: Path) -> dict[str, str]:
    # One thread: the same arithmetic in every process, so reruns match bit for bit.
    return {**os.environ, "RESLAB_DATA": str(tmp_path / "data-root"), "OMP_NUM_THREADS": "1"}


class Background:
    """``reslab ARGS`` started now, its output in ``log``; ``finish()`` waits and checks it."""

    def __init__(self, *args: str, env: dict[str, str], log: Path) -> None:
        self.args, self.log = args, log
        with open(log, "w") as out:
            self.proc = subprocess.Popen(reslab_cmd(*args), env=env, stdout=out, stderr=out)

    def finish(self) -> None:
        if self.proc.wait(timeout=600) != 0:
            raise AssertionError(f"reslab {' '.join(self.args)} failed:\n{self.log.read_text()}")


def wait_for_checkpoint(proc: subprocess.Popen, latest: Path, at_least: int) -> int:
    """The iteration of ``latest`` once ``proc`` has checkpointed at ``at_least`` or later."""
    import torch

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("the run ended before it could be interrupted")
        if latest.exists():
            iteration = torch.load(latest, weights_only=True)["iteration"]
            if iteration >= at_least:
                return iteration
        time.sleep(0.02)
    raise AssertionError("no checkpoint appeared")


def sigkilled_run(*args: str, out: Path, env: dict[str, str], at_least: int) -> int:
    """``reslab ARGS --out OUT`` SIGKILLed once it has checkpointed at ``at_least`` or
    later; returns the iteration of that checkpoint."""
    proc = subprocess.Popen(
        reslab_cmd(*args, "--out", str(out)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    at = wait_for_checkpoint(proc, out / "checkpoints" / "latest.pt", at_least)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return at


def run_reslab(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(reslab_cmd(*args), capture_output=True, text=True, env=env, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"reslab {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc
