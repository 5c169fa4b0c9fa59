"""One-shot GPU check: everything only a GPU can settle, in one command under 9 minutes.

    python3 scripts/gpu_check.py OUT [--data PATH] [--minutes 8.5]

Run from the repository root on a machine with one CUDA GPU (``PYTHONPATH=src`` is set
for the children; reslab's dependencies must be importable there). In order, each step
given what is left of the time budget:

1. the CUDA-only tests (``pytest -k cuda``);
2. ``reslab bench --device cuda`` of ResNet-20/56/110 and ResNet-50 with the fp32/bf16 x
   eager/compiled matrix, on a quiet GPU;
3. concurrently on the same GPU (small nets leave it mostly idle): the issue-13 parity
   runs (ResNet-20, `short` budget, seeds 0-2, bf16 compiled and fp32 eager) and the
   paper budget of ResNet-20 (64k iterations), each a run directory under OUT/runs.
   Whatever is still training at the deadline gets SIGTERM: it checkpoints and
   ``reslab train --resume DIR`` continues it on any machine.

Everything lands under OUT (logs beside each step) so that it can be committed.
``--tiny`` runs the same steps on the CPU in about a minute (the test suite does), one
parity seed instead of three, so the script cannot rot before a GPU is lent.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
SHORT = ["--iterations", "4000", "--set", "run.eval_every=250", "--set", "run.checkpoint_every=250"]
TINY_SETS = [
    "--iterations",
    "4",
    "--set",
    "optim.batch_size=8",
    "--set",
    "data.train_subset_per_class=4",
    "--set",
    "data.test_subset_per_class=2",
    "--set",
    "data.eval_batch_size=20",
    "--set",
    "run.log_every=1",
    "--set",
    "run.eval_every=2",
    "--set",
    "run.checkpoint_every=2",
]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--minutes", type=float, default=8.5)
    p.add_argument("--tiny", action="store_true", help="a CPU rehearsal of every step")
    args = p.parse_args()
    deadline = time.monotonic() + 60 * args.minutes
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    device = "cpu" if args.tiny else "cuda"
    steps = {"nvidia-smi": _step(out, "nvidia-smi", ["nvidia-smi"], deadline, optional=True)}
    tests = [
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-k",
        "cuda",
        "tests/test_bench.py",
        "tests/train",
        "tests/models",
    ]
    if not args.tiny:
        steps["tests"] = _step(out, "tests", [sys.executable, *tests], deadline)
    bench = ["bench", "--device", device, "--out", str(out / "bench")]
    if args.tiny:  # no compilation: minutes on a CPU
        bench += [
            "--model",
            "resnet20",
            "--batch",
            "8",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--workers",
            "0",
            "--compile",
            "off",
        ]
    else:
        models = ("resnet20", "resnet56", "resnet110", "resnet50")
        bench += ["--matrix", *(a for m in models for a in ("--model", m))]
    steps["bench"] = _step(out, "bench", _reslab(*bench), deadline, leave_s=120)
    steps["runs"] = _train_runs(out / "runs", args.data, device, args.tiny, deadline)
    (out / "gpu-check.json").write_text(json.dumps(steps, indent=2) + "\n")
    print(json.dumps(steps, indent=2))
    return 0


def _reslab(*args: str) -> list[str]:
    return [sys.executable, "-m", "reslab", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "src")}


def _step(
    out: Path,
    name: str,
    cmd: list[str],
    deadline: float,
    *,
    leave_s: float = 0,
    optional: bool = False,
) -> dict:
    """Run ``cmd`` with its output in OUT/NAME.log, stopped ``leave_s`` before the deadline."""
    budget = deadline - time.monotonic() - leave_s
    if budget < 10:
        return {"status": "skipped: no time left"}
    start = time.monotonic()
    with open(out / f"{name}.log", "w") as log:
        try:
            rc = subprocess.run(
                cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=_env(), timeout=budget
            ).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        except FileNotFoundError:
            if not optional:
                raise
            rc = "not found"
    return {"status": rc, "seconds": round(time.monotonic() - start, 1), "command": cmd}


def _train_runs(runs: Path, data: str, device: str, tiny: bool, deadline: float) -> dict:
    """The parity and paper-budget runs, concurrently; SIGTERM at the deadline."""
    common = [
        "--model",
        "resnet20",
        "--recipe",
        "cifar-paper",
        "--data",
        data,
        "--set",
        f"run.device={device}",
    ]
    short = TINY_SETS if tiny else SHORT
    compiled = "false" if tiny else "true"  # compiling takes minutes on a CPU
    seeds = (2,) if tiny else (0, 1, 2)  # a rehearsal: one of each kind of run, on 2 cores
    plan = {
        f"parity/resnet20-{name}-s{seed}": [*short, "--seed", str(seed), *sets]
        for seed in seeds
        for name, sets in (
            (
                "bf16-compiled",
                ["--set", "run.precision=bf16", "--set", f"model.compile={compiled}"],
            ),
            ("fp32-eager", ["--set", "run.precision=fp32", "--set", "model.compile=false"]),
        )
    }
    plan["paper/resnet20-s0"] = [
        *(TINY_SETS if tiny else []),
        "--seed",
        "0",
        "--set",
        "run.eval_every=1000",
    ]
    procs = {}
    for name, extra in plan.items():
        run_dir = runs / name
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        resume = (run_dir / "checkpoints" / "latest.pt").is_file()
        cmd = (
            _reslab("train", "--resume", str(run_dir))
            if resume
            else _reslab("train", *common, *extra, "--out", str(run_dir))
        )
        log = open(run_dir.with_suffix(".log"), "a")  # noqa: SIM115 (closed below)
        procs[name] = (
            subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=_env()),
            log,
            cmd,
        )
    while any(p.poll() is None for p, _, _ in procs.values()) and time.monotonic() < deadline:
        time.sleep(2)
    for p, _, _ in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)  # checkpoints and stops
    result = {}
    for name, (p, log, cmd) in procs.items():
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
        log.close()
        summary = runs / name / "summary.json"
        status = json.loads(summary.read_text()).get("status") if summary.is_file() else None
        result[name] = {"returncode": p.returncode, "status": status, "command": cmd}
    return result


if __name__ == "__main__":
    sys.exit(main())
