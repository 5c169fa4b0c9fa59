"""Kill a short training run with SIGKILL at N random moments and check that, resumed each
time, it ends with the same weights and metrics as a run that was never interrupted.

    python benchmarks/fault_injection.py [--data PATH] [--kills 27] [--iterations 60]
        [--subset-per-class 200] [--test-per-class 10] [--seed 0] [--out DIR]

The moments are uniform over the time a straight run takes (measured first), so they
land at startup, between iterations, inside checkpoint writes (one every iteration here),
before a rename, inside ``best.pt`` and metrics writes. After each kill the run continues
the way a user would: ``reslab train ... --out RUN`` while the directory holds no
checkpoint, ``--resume RUN`` after. Exit status 1 when anything differs. Single-threaded
(OMP_NUM_THREADS=1), so that every process does the same arithmetic.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
VOLATILE = ("images_per_s", "elapsed_s", "wall_s")  # timings differ between sessions


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--kills", type=int, default=27)
    p.add_argument("--iterations", type=int, default=60)
    p.add_argument("--subset-per-class", type=int, default=200, help="training images")
    p.add_argument("--test-per-class", type=int, default=10, help="test images")
    p.add_argument("--model", default="resnet20")
    p.add_argument("--seed", type=int, default=0, help="of the kill moments")
    p.add_argument("--out", type=Path, default=None, help="default: a temporary folder")
    args = p.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="reslab-faults-"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RESLAB_DATA": str(out / "data-root")}
    command = [
        sys.executable,
        "-m",
        "reslab",
        "train",
        "--model",
        args.model,
        "--data",
        args.data,
        "--iterations",
        str(args.iterations),
        "--device",
        "cpu",
        "--set",
        f"data.train_subset_per_class={args.subset_per_class}",
        "--set",
        f"data.test_subset_per_class={args.test_per_class}",
        "--set",
        "optim.batch_size=32",
        "--set",
        "run.log_every=4",
        "--set",
        "run.eval_every=10",
        "--set",
        "run.checkpoint_every=1",
        "--set",
        "data.eval_batch_size=50",
    ]

    straight, killed = out / "straight", out / "killed"
    for run in (straight, killed):
        shutil.rmtree(run, ignore_errors=True)
    warm = out / "warm-up"  # decode the data into the cache first: then time a run
    shutil.rmtree(warm, ignore_errors=True)
    _run([*command, "--out", str(warm), "--iterations", "1"], env)
    start = time.monotonic()
    _run([*command, "--out", str(straight)], env)
    duration = time.monotonic() - start
    print(f"straight run: {duration:.1f} s", flush=True)

    rng = random.Random(args.seed)
    moments = []
    for i in range(args.kills):
        delay = rng.uniform(0.0, duration)
        proc = subprocess.Popen(
            _next_command(command, killed),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        if proc.returncode not in (0, -signal.SIGKILL):
            print(proc.stderr.read().decode(errors="replace")[-3000:], file=sys.stderr)
            print(f"kill {i + 1}: the run failed with status {proc.returncode}", file=sys.stderr)
            return 1
        at = _iteration(killed)
        moments.append((round(delay, 2), at))
        print(f"kill {i + 1}/{args.kills} after {delay:.2f} s: latest checkpoint {at}", flush=True)
        if proc.returncode == 0:
            print("  (the run had finished before the kill)")
            break
    _run(_next_command(command, killed), env)

    problems = compare(straight, killed)
    for line in problems:
        print(f"DIFFERS: {line}", file=sys.stderr)
    print(json.dumps({"kills": len(moments), "moments": moments, "equal": not problems}))
    return 1 if problems else 0


def _next_command(command: list[str], run: Path) -> list[str]:
    """What a user runs next: a fresh start while no checkpoint exists, else --resume."""
    ckpts = run / "checkpoints"
    if (ckpts / "latest.pt").is_file() or (ckpts / "latest.prev.pt").is_file():
        return [*command[:4], "--resume", str(run)]
    return [*command, "--out", str(run)]


def _run(command: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def _iteration(run: Path) -> int | None:
    latest = run / "checkpoints" / "latest.pt"
    try:
        return int(torch.load(latest, weights_only=True)["iteration"])
    except Exception:  # absent, or torn by this very kill
        return None


def compare(a: Path, b: Path) -> list[str]:
    """What differs between two finished runs, ignoring timings."""
    problems = []
    wa, wb = (
        torch.load(r / "checkpoints" / "latest.pt", weights_only=True)["state_dict"] for r in (a, b)
    )
    if wa.keys() != wb.keys():
        problems.append("state dict keys")
    problems += [f"weights {k}" for k in wa if k in wb and not torch.equal(wa[k], wb[k])]
    ra, rb = (_metrics(r) for r in (a, b))
    if ra != rb:
        problems.append(f"metrics.jsonl ({len(ra)} and {len(rb)} records)")
    sa, sb = (_strip(json.loads((r / "summary.json").read_text())) for r in (a, b))
    problems += [f"summary {k}" for k in sa if sa[k] != sb.get(k)]
    return problems


def _metrics(run: Path) -> list[dict]:
    return [_strip(json.loads(line)) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _strip(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in VOLATILE}


if __name__ == "__main__":
    sys.exit(main())
