"""The run directory: config, environment, metrics, summary (see docs/design.md)."""

from __future__ import annotations

import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from reslab.checkpoint import atomic_path
from reslab.errors import ReslabError


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def environment(device: torch.device, world_size: int) -> dict[str, Any]:
    """What produced a run: versions, hardware, command line."""
    import torchvision

    import reslab

    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    return {
        "command": command_line(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "reslab": reslab.__version__,
        "git_commit": _git_commit(),
        "device": device.type,
        "hardware": hardware,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "world_size": world_size,
    }


def command_line() -> str:
    prog = Path(sys.argv[0]).name
    prog = "python -m reslab" if prog == "__main__.py" else prog
    return shlex.join([prog, *sys.argv[1:]])


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).parent,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


class RunDir:
    """Writes a run directory; only the main rank constructs one."""

    def __init__(self, path: Path, *, tensorboard: bool = False) -> None:
        self.path = path
        self.ckpt_dir = path / "checkpoints"
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        self._metrics = open(path / "metrics.jsonl", "a", buffering=1)  # noqa: SIM115
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ReslabError(
                    "run.tensorboard needs tensorboard: pip install 'reslab[tensorboard]'"
                ) from None
            self._tb = SummaryWriter(str(path / "tensorboard"))

    def write_config(self, config: dict[str, Any], env: dict[str, Any]) -> None:
        write_text_atomic(self.path / "config.yaml", yaml.safe_dump(config, sort_keys=False))
        write_text_atomic(self.path / "env.json", json.dumps(env, indent=2) + "\n")

    def log(self, record: dict[str, Any]) -> None:
        self._metrics.write(json.dumps(record) + "\n")
        if self._tb is not None:
            prefix = record["kind"] if record["kind"] == "train" else record["split"]
            for key, value in record.items():
                if isinstance(value, float):
                    self._tb.add_scalar(f"{prefix}/{key}", value, record["iteration"])

    def flush(self) -> None:
        self._metrics.flush()
        os.fsync(self._metrics.fileno())

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_text_atomic(self.path / "summary.json", json.dumps(summary, indent=2) + "\n")

    def close(self) -> None:
        self._metrics.close()
        if self._tb is not None:
            self._tb.close()


def truncate_metrics(path: Path, iteration: int) -> None:
    """Drop records written after ``iteration``: on resume, the run continues from the
    checkpoint and will write them again."""
    metrics = path / "metrics.jsonl"
    if not metrics.is_file():
        return
    kept = [
        line for line in metrics.read_text().splitlines()
        if line.strip() and json.loads(line)["iteration"] <= iteration
    ]  # fmt: skip
    write_text_atomic(metrics, "".join(f"{line}\n" for line in kept))


def read_config(path: Path) -> dict[str, Any]:
    file = path / "config.yaml"
    if not file.is_file():
        raise ReslabError(f"{path}: not a run directory (no config.yaml)")
    return yaml.safe_load(file.read_text())
