"""One-shot GPU check: what only a GPU can settle, in one command of under 9 minutes.

    python3 scripts/gpu_check.py OUT [--data PATH] [--minutes 8.5] [--work DIR]

Run from the repository root on a machine with one CUDA GPU (``PYTHONPATH=src`` is set
for the children; reslab's dependencies must be importable there). The device tool does
not send ``../shared``: copy the archive into a folder of the checkout that git ignores,
carry that folder and pass ``--data``. In order, each step given what is left of the time:

1. the CUDA-only tests (``pytest -k cuda``);
2. training, ``--parallel`` runs at a time on the one GPU (small nets leave it mostly
   idle), in this order, each unless it is finished in ``--results`` (the committed study):
   the lines of ``--queue`` (issue 14's medium runs), ResNet-20 with shortcut options B
   and C at the medium budget, then the paper budget of ResNet-20 to 110 and plain-20 to
   56; seed 0 for all but the queue's. A run under way ``--bench-minutes`` before the
   deadline gets SIGTERM: it checkpoints, and ``reslab train --resume DIR`` continues it
   on any machine;
3. the Fig. 7 layer responses of the finished runs (``reslab reproduce --no-train``);
4. ``reslab bench --device cuda --matrix`` of ResNet-20, ResNet-56, ResNet-110 and
   ResNet-50, one at a time (cheapest to compile first), with what is left;
5. packing. The device tool brings back at most 8 files of 16 MiB from OUT, none deeper
   than two folders, so OUT gets ``gpu-check.json``, ``results.tar.gz`` (WORK without
   weights: logs, bench, run directories) and up to six ``checkpoints-N.tar`` (each
   unfinished run's ``latest.pt`` first, then the finished runs' ``final.pt``; whatever
   does not fit is named in gpu-check.json).

Every step works in WORK (``--work``). Unpacking all of OUT's archives into one folder
gives that folder back, ``reproduce/BUDGET/RUN`` being run directories (scripts/collect-runs
copies the finished ones into results/); carried back and passed as ``--work`` on the next
lend, its unfinished runs resume. ``--tiny`` runs every step on the CPU in a minute or two
(the test suite does), so that the script cannot rot before a GPU is lent.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from reslab.paper import RESNETS  # noqa: E402 (after the path)
from reslab.reproduce.experiments import get_budget, get_experiment  # noqa: E402
from reslab.reproduce.experiments import plan as reproduce_plan  # noqa: E402
from reslab.rundir import run_status  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
PART_BYTES = 15 << 20  # under the device tool's 16 MiB a file
MAX_PARTS = 6  # its 8 files, less gpu-check.json and results.tar.gz
START_S = 60  # no run starts with less training time left (compiling alone takes about that)
SAVE_S = 60  # after SIGTERM, for every run together to checkpoint, then SIGKILL
# --tiny: runs of seconds and a bench without compilation, on 2 cores
TINY_SETS = shlex.split(
    "--iterations 4 --set optim.batch_size=8 --set data.train_subset_per_class=4"
    " --set data.test_subset_per_class=2 --set data.eval_batch_size=20 --set run.log_every=1"
    " --set run.eval_every=2 --set run.checkpoint_every=2"
)
TINY_BENCH = shlex.split("--batch 8 --steps 1 --warmup 0 --workers 0 --compile off")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--minutes", type=float, default=8.5)
    p.add_argument("--bench-minutes", type=float, default=3.0, help="kept for steps 3-5")
    p.add_argument("--parallel", type=int, default=6, help="training runs at a time")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "reslab-gpu")
    p.add_argument("--queue", type=Path, default=REPO / "scripts" / "queue-cpu.txt")
    p.add_argument("--results", type=Path, default=REPO / "results" / "reproduce")
    p.add_argument("--tiny", action="store_true", help="a CPU rehearsal of every step")
    args = p.parse_args()
    deadline = time.monotonic() + 60 * args.minutes
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    device = "cpu" if args.tiny else "cuda"
    steps = {"nvidia-smi": _step(work, "nvidia-smi", ["nvidia-smi"], deadline, optional=True)}
    if not args.tiny:
        tests = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "cuda"]
        tests += ["tests/test_bench.py", "tests/train", "tests/models"]
        # Stopped early enough to leave the training three minutes.
        leave_s = 60 * (args.bench_minutes + 3)
        steps["tests"] = _step(work, "tests", [sys.executable, *tests], deadline, leave_s=leave_s)
    plan = _plan(args, work / "reproduce", device)
    train_deadline = deadline - 60 * args.bench_minutes
    steps["runs"] = _train(plan, args.parallel, train_deadline)
    steps["responses"] = _responses(work, args.data, deadline)
    models = ("resnet20",) if args.tiny else ("resnet20", "resnet56", "resnet110", "resnet50")
    for model in models:  # one step each: a bench cut short keeps the models before it
        cmd = _bench(work, model, device, args.tiny)
        steps[f"bench-{model}"] = _step(work, f"bench-{model}", cmd, deadline, leave_s=20)
    (work / "gpu-check.json").write_text(json.dumps(steps, indent=2) + "\n")
    steps["left_behind"] = _pack(work, args.out)
    (args.out / "gpu-check.json").write_text(json.dumps(steps, indent=2) + "\n")
    print(json.dumps(steps, indent=2))
    return 0


def _reslab(*args: str) -> list[str]:
    return [sys.executable, "-m", "reslab", *args]


def _env() -> dict[str, str]:
    # Several trainers share the machine's cores: two threads each.
    return {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "2"}


def _step(
    work: Path,
    name: str,
    cmd: list[str],
    deadline: float,
    *,
    leave_s: float = 0,
    optional: bool = False,
) -> dict:
    """Run ``cmd`` with its output in WORK/NAME.log, stopped ``leave_s`` before the deadline."""
    budget = deadline - time.monotonic() - leave_s
    if budget < 10:
        return {"status": "skipped: no time left"}
    start = time.monotonic()
    with open(work / f"{name}.log", "w") as log:
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


def _plan(args: argparse.Namespace, runs: Path, device: str) -> dict[Path, list[str]]:
    """Run directory -> ``reslab train`` arguments (without ``--out``), in priority order,
    leaving out the runs already finished under ``--results``."""
    # An explicit device: a broken CUDA fails the runs instead of training them on the CPU.
    # model.compile stays auto, which compiles a run this long where the compiler works.
    extra = ["--set", f"run.device={device}", *(TINY_SETS if args.tiny else [])]
    plan = {}
    for line in args.queue.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        train_args = shlex.split(line)[2:]  # without "reslab train"
        i = train_args.index("--out")
        out = Path(train_args.pop(i + 1))
        del train_args[i]
        train_args[train_args.index("--data") + 1] = args.data  # ../shared stays behind
        plan[runs / out.parent.name / out.name] = train_args + extra
    # Then the medium runs that the claims-by-budget table still lacks (options B and C),
    # and the paper budget, Table 6 first.
    for experiment, budget in (("shortcuts", "medium"), ("cifar10-fig6", "paper")):
        planned = reproduce_plan(
            get_experiment(experiment), get_budget(budget), seeds=1, data=args.data, out=runs
        )
        planned.sort(key=lambda run: run.spec.model not in RESNETS)
        for run in planned[:1] if args.tiny and budget == "paper" else planned:
            plan.setdefault(run.run_dir, run.train_args()[:-2] + extra)  # without --out
    committed = {d: args.results / d.relative_to(runs) for d in plan}
    return {d: a for d, a in plan.items() if run_status(committed[d]) != "finished"}


def _train(plan: dict[Path, list[str]], parallel: int, deadline: float) -> dict:
    """Train the plan, ``parallel`` runs at a time in its order; SIGTERM at the deadline."""
    pending = [d for d in plan if run_status(d) not in ("finished", "diverged")]
    running: dict[Path, tuple[subprocess.Popen, object, list[str]]] = {}
    result = {}
    while (pending or running) and time.monotonic() < deadline:
        while pending and len(running) < parallel and deadline - time.monotonic() > START_S:
            run_dir = pending.pop(0)
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            if (run_dir / "checkpoints" / "latest.pt").is_file():
                cmd = _reslab("train", "--resume", str(run_dir))
            else:
                cmd = _reslab("train", *plan[run_dir], "--out", str(run_dir))
            log = open(run_dir.with_suffix(".log"), "a")  # noqa: SIM115 (closed in _ended)
            popen = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=_env()
            )
            running[run_dir] = (popen, log, cmd)
        for run_dir in [d for d, (p, _, _) in running.items() if p.poll() is not None]:
            result[str(run_dir)] = _ended(run_dir, *running.pop(run_dir), time.monotonic())
        if not pending and not running:
            break
        time.sleep(2)
    for popen, _, _ in running.values():
        popen.send_signal(signal.SIGTERM)  # checkpoints and stops
    # One still compiling may not see the signal soon, and the packing must still happen
    # inside the device tool's limit.
    kill_at = time.monotonic() + SAVE_S
    for run_dir, entry in running.items():
        result[str(run_dir)] = _ended(run_dir, *entry, kill_at)
    result.update({str(d): {"status": "not started: no time left"} for d in pending})
    return result


def _ended(run_dir: Path, popen: subprocess.Popen, log, cmd: list[str], kill_at: float) -> dict:
    try:
        popen.wait(timeout=max(0.0, kill_at - time.monotonic()))
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()
    log.close()
    return {"returncode": popen.returncode, "status": run_status(run_dir), "command": cmd}


def _responses(work: Path, data: str, deadline: float) -> dict:
    """Fig. 7's responses of the finished runs, and each run's reproduce.json."""
    done = {}
    for budget, seeds in (("medium", "3"), ("paper", "1")):
        for experiment in ("cifar10-fig7", "cifar10-fig6"):
            cmd = _reslab(
                "reproduce",
                experiment,
                "--budget",
                budget,
                "--seeds",
                seeds,
                "--no-train",
                "--data",
                data,
                "--out",
                str(work / "reproduce"),
            )
            name = f"responses-{budget}-{experiment}"
            done[name] = _step(work, name, cmd, deadline, leave_s=30)
    return done


def _bench(work: Path, model: str, device: str, tiny: bool) -> list[str]:
    bench = ["bench", "--model", model, "--device", device, "--out", str(work / "bench" / model)]
    return _reslab(*bench, *(TINY_BENCH if tiny else ["--matrix"]))


def _pack(work: Path, out: Path) -> list[str]:
    """WORK into OUT as results.tar.gz and checkpoints-N.tar; returns the weights left out."""
    out.mkdir(parents=True, exist_ok=True)
    files = sorted(f for f in work.rglob("*") if f.is_file() and not f.name.startswith("."))
    with tarfile.open(out / "results.tar.gz", "w:gz") as tar:
        for f in files:
            if f.suffix != ".pt":
                tar.add(f, f.relative_to(work).as_posix())
    resume = [f for f in files if f.name == "latest.pt" and run_status(f.parents[1]) != "finished"]
    weights = resume + [f for f in files if f.name == "final.pt"]
    parts: list[list[Path]] = []
    left = []
    for f in weights:  # first fit, in priority order
        part = next((p for p in parts if sum(map(_size, p)) + _size(f) <= PART_BYTES), None)
        if part is None and len(parts) < MAX_PARTS and _size(f) <= PART_BYTES:
            parts.append(part := [])
        if part is None:
            left.append(f.relative_to(work).as_posix())
        else:
            part.append(f)
    for i, part in enumerate(parts):
        with tarfile.open(out / f"checkpoints-{i}.tar", "w") as tar:
            for f in part:
                tar.add(f, f.relative_to(work).as_posix())
    return left


def _size(path: Path) -> int:
    return path.stat().st_size


if __name__ == "__main__":
    sys.exit(main())
