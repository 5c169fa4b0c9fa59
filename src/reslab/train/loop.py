"""The training loop: :func:`train` starts a run and :func:`resume` continues one; both
run it from its first (or its checkpoint's) iteration to the summary."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from reslab.bf16 import emulated
from reslab.errors import OptionError
from reslab.interrupts import ctrl_c_pressed
from reslab.meter import Meter
from reslab.train import distributed
from reslab.train.config import Length, TrainConfig, changes
from reslab.train.divergence import TrainingDiverged, check_evaluable, check_finite, diverged
from reslab.train.progress import TrainProgress, run_header
from reslab.train.rundir import RunDir, environment, truncate_metrics
from reslab.train.schedules import ScheduleEvents, lr_at, plateaued
from reslab.train.session import Session, build_session, latest_checkpoint, restore, save
from reslab.train.state import IntervalMeter


def train(config: TrainConfig, out: Path, *, length: Length | None = None) -> dict[str, Any]:
    """Train a new run in ``out`` (or one that stopped before its first checkpoint, taken
    over afresh); returns its summary."""
    with _process(config) as dist:
        return _run(build_session(config, dist, length), out, saved=None)


def resume(
    config: TrainConfig, out: Path, *, saved: TrainConfig, from_checkpoint: bool = True
) -> dict[str, Any]:
    """Continue the run in ``out`` from its latest checkpoint (without ``from_checkpoint``:
    a run that stopped before its first one, from iteration 0); returns its summary.
    ``saved``: the run's configuration before this ``--resume`` amended it (``config``),
    for ``amendments.jsonl``."""
    with _process(config) as dist:
        s = build_session(config, dist, None)
        if from_checkpoint:
            restore(s, *latest_checkpoint(out, s.device, warn=dist.main))
        if s.state.iteration > s.config.schedule.iterations:
            raise OptionError(
                f"{out} is at iteration {s.state.iteration}; a length of "
                f"{s.config.schedule.iterations} iterations would end before it"
            )
        if dist.main:
            truncate_metrics(out, s.state.iteration)
        return _run(s, out, saved=saved)


@contextmanager
def _process(config: TrainConfig) -> Iterator[distributed.Dist]:
    """This process's place in the run (its rank and device), for the run's duration."""
    dist = distributed.setup(config.run.device)
    try:
        yield dist
    finally:
        distributed.teardown()


def _run(s: Session, out: Path, *, saved: TrainConfig | None) -> dict[str, Any]:
    """Train ``s`` to its end, writing the run directory (on the main rank)."""
    run = RunDir(out, tensorboard=s.config.run.tensorboard) if s.dist.main else None
    try:
        if run is not None:
            _write_config(s, run, saved)
        summary = _loop(s, run, out)
        if run is not None:
            run.write_summary(summary)
        return summary
    except TrainingDiverged as err:
        if run is not None:
            run.write_summary(
                {
                    "status": "diverged",
                    "model": s.config.model.name,
                    "recipe": s.config.recipe,
                    "iterations": s.state.iteration,
                    "message": str(err),
                }
            )
        raise
    finally:
        if run is not None:
            run.close()


def _write_config(s: Session, run: RunDir, saved: TrainConfig | None) -> None:
    """A new run writes its configuration and environment; a resumed one rewrites
    ``config.yaml`` only when the resume changed it, and records the change."""
    env = environment(s.device, s.dist.world_size)
    env.update(precision=s.config.run.precision, compiled=s.config.model.compile)
    if s.config.run.precision == "bf16":  # the units' arithmetic either way (reslab.bf16)
        env["bf16"] = "emulated" if emulated(s.device, "bf16") else "native"
    if saved is None or s.state.iteration == 0:
        run.write_config(s.config.to_dict(), env)
    changed = changes(saved, s.config) if saved is not None else {}
    if changed:
        run.write_config(s.config.to_dict(), None)
        run.append_amendment(
            {
                "iteration": s.state.iteration,
                "time": env["started"],
                "command": env["command"],
                **{k: env[k] for k in ("hardware", "bf16") if k in env},
                "changes": {k: {"from": a, "to": b} for k, (a, b) in changed.items()},
            }
        )


def _loop(s: Session, run: RunDir | None, out: Path) -> dict[str, Any]:
    cfg, st, clock = s.config, s.state, _Clock(s)
    total, ipe = cfg.schedule.iterations, s.iters_per_epoch
    eval_every = cfg.run.eval_every or ipe
    status = "finished"
    with (
        _stop_signals() as stop,
        TrainProgress(
            total,
            st.iteration,
            enabled=run is not None,
            title=f"{cfg.model.name} · {cfg.recipe}",
            header=run_header(s, out) if run is not None else (),
            iters_per_epoch=ipe,
            elapsed_before=st.wall_s,
            cpu_threads=torch.get_num_threads() if s.device.type == "cpu" else None,
        ) as progress,
    ):
        while st.iteration < total and status == "finished":
            epoch, start = divmod(st.iteration, ipe)
            s.model.train()
            for x, y in s.loaders.train.batches(epoch, start):
                lr = lr_at(st.iteration, cfg.schedule, cfg.optim.lr, st.events)
                loss, misses = train_step(s, x, y, lr)
                s.meter.add(loss, misses, len(y))  # this rank's share; summed at each record
                st.iteration += 1
                it = st.iteration
                if it % cfg.run.log_every == 0 or it == total:
                    clock.settle()
                    _log_train(s, run, lr, progress)
                if it % eval_every == 0 or it == total:
                    with clock.paused():
                        _evaluate_and_track(s, run, progress)
                        s.model.train()
                if it % cfg.run.checkpoint_every == 0 or it % eval_every == 0 or it == total:
                    with clock.paused():
                        _checkpoint(s, run, out, x, y)
                if _should_stop(s, stop):
                    status = "interrupted"
                    clock.settle()
                    _checkpoint(s, run, out, x, y)
                    break
                if it == total:
                    break
                progress.update(it)
    clock.settle()
    if status == "finished" and run is not None:  # the weights the summary reports
        save(s, run.ckpt_dir / "final.pt", with_train_state=False, weights=s.eval_model)
    return _summary(s, status)


class _Clock:
    """The run's wall time over all its sessions (``state.wall_s``), and the training-only
    time of the current logging interval (``meter.seconds``, for its images/s)."""

    def __init__(self, s: Session) -> None:
        self.s, self.before = s, s.state.wall_s
        self.start = self.lap_start = time.monotonic()

    def settle(self) -> None:
        """Credit the time since the last lap to the interval and update the wall time."""
        now = time.monotonic()
        self.s.meter.seconds += now - self.lap_start
        self.lap_start = now
        self.s.state.wall_s = self.before + now - self.start

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Around work that is not training (evaluation, checkpoints): it counts in the
        wall time, in no interval."""
        self.settle()
        yield
        self.lap_start = time.monotonic()


def train_step(s: Session, x: torch.Tensor, y: torch.Tensor, lr: float):
    """One SGD step; returns the loss and the misses as device tensors (no host sync)."""
    for group in s.optimizer.param_groups:
        group["lr"] = lr
    with s.autocast():
        logits = s.model(x)
    loss = s.criterion(logits.float(), y)  # the loss in fp32 under any autocast
    s.optimizer.zero_grad(set_to_none=True)
    if s.scaler is not None:
        s.scaler.scale(loss).backward()
        s.scaler.step(s.optimizer)
        s.scaler.update()
    else:
        loss.backward()
        s.optimizer.step()
    if s.ema is not None:
        s.ema.update_parameters(s.model)
    return loss.detach(), (logits.detach().argmax(1) != y).sum()


def _log_train(s: Session, run: RunDir | None, lr: float, progress: TrainProgress) -> None:
    """Sum the interval over ranks, check it is finite, end a warm-up, write a record."""
    m, st = s.meter, s.state
    loss_sum, misses, samples = _interval_sums(s).tolist()
    loss, err = loss_sum / samples, 100.0 * misses / samples
    if not math.isfinite(loss):
        raise diverged(s, f"the training loss became {loss} at iteration {st.iteration}")
    st.last_train_err = err
    if st.events.warmup_end is None and err < s.config.schedule.warmup_until_err:
        st.events = ScheduleEvents(st.iteration, st.events.drops)  # the paper's 110-layer rule
    record = {
        "kind": "train",
        "iteration": st.iteration,
        "epoch": st.iteration / s.iters_per_epoch,
        "lr": lr,
        "train_loss": loss,
        "train_top1_err": err,
        "images_per_s": samples / max(m.seconds, 1e-9),
        "elapsed_s": st.wall_s,
    }
    if run is not None:
        run.log(record)
    progress.update(st.iteration, record, record=True)
    s.meter = IntervalMeter.zeros(s.device)


def _interval_sums(s: Session) -> torch.Tensor:
    """Float64 ``(3,)``: loss sum, misses and samples of the current logging interval over
    all ranks (each rank's meter holds its own share; a collective)."""
    m = s.meter
    local = torch.stack(
        [
            m.loss_sum,
            m.misses.double(),
            torch.tensor(float(m.samples), dtype=torch.float64, device=s.device),
        ]
    )
    return distributed.all_reduce_sum(local)


@torch.no_grad()
def evaluate_split(s: Session, split: str) -> dict[str, float]:
    """Loss and top-1/top-5 error (%) over a whole split, exact across ranks."""
    model = s.eval_model.eval()
    meter = Meter(s.device)
    for x, y in getattr(s.loaders, split).batches(0):
        with s.autocast():
            logits = model(x)
        meter.update(logits.float(), y)
    distributed.all_reduce_sum(meter.totals)
    return meter.as_percent()


def _evaluate_and_track(s: Session, run: RunDir | None, progress: TrainProgress) -> None:
    st, cfg = s.state, s.config
    results = {
        split: evaluate_split(s, split)
        for split in ("val", "test")
        if getattr(s.loaders, split) is not None
    }
    for split, r in results.items():
        if not math.isfinite(r["loss"]):
            raise diverged(s, f"the {split} loss became {r['loss']} at iteration {st.iteration}")
    for split, r in results.items():
        record = {
            "kind": "eval",
            "iteration": st.iteration,
            "epoch": st.iteration / s.iters_per_epoch,
            "split": split,
            **r,
        }
        if run is not None:
            run.log(record)
    s.last_eval = (st.iteration, results)
    progress.update(st.iteration, {f"{k}_top1_err": r["top1_err"] for k, r in results.items()})
    # Model selection and plateaus watch the validation split when there is one.
    watched = results["val" if "val" in results else "test"]["top1_err"]
    if watched < st.best_err:
        st.best_err, st.best_iteration = watched, st.iteration
        st.test_err_at_best = results["test"]["top1_err"]
        check_finite(s)
        if run is not None:
            save(s, run.ckpt_dir / "best.pt", with_train_state=False, weights=s.eval_model)
    if cfg.schedule.kind == "plateau":
        st.plateau_errors.append(watched)
        if plateaued(st.plateau_errors, cfg.schedule):
            st.events = ScheduleEvents(st.events.warmup_end, (*st.events.drops, st.iteration))
            st.plateau_errors = []
            progress.note(
                f"error plateaued: learning rate x{cfg.schedule.gamma} from "
                f"iteration {st.iteration}"
            )


def _checkpoint(
    s: Session, run: RunDir | None, out: Path, x: torch.Tensor, y: torch.Tensor
) -> None:
    # A non-finite loss since the last record, or non-finite weights, must not overwrite
    # the last good checkpoint.
    sums = _interval_sums(s)  # every rank's share: the checkpoint holds the whole interval
    if not bool(torch.isfinite(sums[0])):
        raise diverged(
            s, f"the training loss became non-finite before iteration {s.state.iteration}"
        )
    check_finite(s)
    check_evaluable(s, x, y)
    if run is not None:
        run.flush()
        save(s, run.ckpt_dir / "latest.pt", interval=sums.tolist())
    s.last_saved = s.state.iteration
    distributed.barrier()


def _should_stop(s: Session, stop: dict[str, bool]) -> bool:
    if not s.dist.enabled:
        return stop["requested"]
    # Every rank must stop at the same iteration: agree once per logging interval.
    if s.state.iteration % s.config.run.log_every:
        return False
    return distributed.any_rank(stop["requested"], s.device)


@contextmanager
def _stop_signals():
    """SIGINT/SIGTERM ask the loop to checkpoint and return at the next iteration."""
    stop = {"requested": False}

    def handler(signum: int, frame: object) -> None:
        stop["requested"] = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if ctrl_c_pressed():  # before the loop, and swallowed by library code
            raise KeyboardInterrupt
        yield stop
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


def _summary(s: Session, status: str) -> dict[str, Any]:
    from reslab.models import count_params

    st, cfg = s.state, s.config
    if s.last_eval is not None and s.last_eval[0] == st.iteration:
        final = s.last_eval[1]
    else:  # interrupted between evaluations
        final = {
            split: evaluate_split(s, split)
            for split in ("val", "test")
            if getattr(s.loaders, split) is not None
        }
    has_val = "val" in final
    return {
        "model": cfg.model.name,
        "model_options": dict(cfg.model.options),
        "recipe": cfg.recipe,
        "data": s.loaders.description,
        "seed": cfg.run.seed,
        "status": status,
        "iterations": st.iteration,
        "epochs": st.iteration / s.iters_per_epoch,
        "train_images": s.loaders.train_images,
        "test_top1_err": final["test"]["top1_err"],
        "test_top5_err": final["test"]["top5_err"],
        "test_loss": final["test"]["loss"],
        "final_train_top1_err": st.last_train_err,
        "best_val_top1_err": st.best_err if has_val else None,
        "best_val_iteration": st.best_iteration if has_val else None,
        "test_top1_err_at_best_val": st.test_err_at_best if has_val else None,
        "params": count_params(s.eval_model),
        "wall_s": st.wall_s,
        "device": str(s.device),
        "precision": cfg.run.precision,
        "compiled": cfg.model.compile,
        "world_size": s.dist.world_size,
        "skipped_images": list(s.loaders.skipped),
    }
