"""Writing the run directory: config, environment, metrics, summary (see docs/design.md);
its readers share :mod:`reslab.rundir`."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import yaml

from reslab.errors import DiskFullError, ReslabError, ReslabWarning, RunLockedError
from reslab.fileio import remove_stale_temporaries, write_json, write_text

LOCK_FILE = ".lock"


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
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        )
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

    def write_config(self, config: dict[str, Any], env: dict[str, Any] | None) -> None:
        write_text(self.path / "config.yaml", yaml.safe_dump(config, sort_keys=False))
        if env is not None:
            write_json(self.path / "env.json", env)

    def log(self, record: dict[str, Any]) -> None:
        with self._full_disk_named():
            self._metrics.write(json.dumps(record) + "\n")
        if self._tb is not None:
            prefix = record["kind"] if record["kind"] == "train" else record["split"]
            for key, value in record.items():
                if isinstance(value, float):
                    self._tb.add_scalar(f"{prefix}/{key}", value, record["iteration"])

    def flush(self) -> None:
        with self._full_disk_named():
            self._metrics.flush()
            os.fsync(self._metrics.fileno())

    @contextlib.contextmanager
    def _full_disk_named(self):
        try:
            yield
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(
                    f"no space left on device while writing {self._metrics.name}; the "
                    "checkpoints are intact (free some space, then continue with --resume)"
                ) from None
            raise

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.path / "summary.json", summary)

    def append_amendment(self, record: dict[str, Any]) -> None:
        """One line of ``amendments.jsonl``: what a ``--resume`` changed, from which
        iteration (see docs/training.md)."""
        with open(self.path / "amendments.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def close(self) -> None:
        with contextlib.suppress(OSError):  # a full disk was already reported
            self._metrics.close()
        if self._tb is not None:
            self._tb.close()


def truncate_metrics(path: Path, iteration: int) -> None:
    """Drop records written after ``iteration``: on resume, the run continues from the
    checkpoint and will write them again. A torn last line (a death or power loss during
    an append) is dropped with a warning; a bad line elsewhere is an error naming it."""
    metrics = path / "metrics.jsonl"
    if not metrics.is_file():
        return
    lines = metrics.read_text().splitlines()
    kept = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            at = record["iteration"]
        except (json.JSONDecodeError, TypeError, KeyError) as err:
            if number == len(lines):
                warnings.warn(
                    f"{metrics}:{number}: dropped a torn last line (the run died while writing it)",
                    ReslabWarning,
                    stacklevel=2,
                )
                break
            reason = err.msg if isinstance(err, json.JSONDecodeError) else "no 'iteration'"
            raise ReslabError(
                f"{metrics}:{number}: not a metrics record ({reason}); fix "
                "or delete the line, then resume again"
            ) from None
        if at <= iteration:
            kept.append(line)
    write_text(metrics, "".join(f"{line}\n" for line in kept))


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the run directory ``path`` (created if needed): a
    :class:`RunLockedError` naming the holder's PID when another process has it. The OS
    releases the lock when its holder dies, however it dies."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunLockedError(
                f"{path} is in use by another reslab process (PID {holder}); wait for it "
                "to end or stop it, or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def remove_temporaries(path: Path) -> None:
    """Temporary files of writers that died mid-write (a checkpoint's can be large);
    call while holding :func:`locked`."""
    for folder in (path, path / "checkpoints"):
        remove_stale_temporaries(folder)
