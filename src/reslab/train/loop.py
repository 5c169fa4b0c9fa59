"""The training loop: ``train(config, run_dir)`` from first iteration to summary."""

from __future__ import annotations

import math
import signal
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reslab.checkpoint import load_checkpoint, previous_path, unwrap
from reslab.errors import CheckpointError, OptionError, ReslabError, ReslabWarning
from reslab.meter import Meter
from reslab.train import distributed
from reslab.train.config import Length, TrainConfig, changes, finalize
from reslab.train.progress import TrainProgress, run_header
from reslab.train.rundir import RunDir, environment, truncate_metrics
from reslab.train.runtime import precision_dtype, resolve_runtime
from reslab.train.schedules import ScheduleEvents, lr_at, plateaued, warmup_applies
from reslab.train.session import (
    Session,
    build_ema,
    build_model,
    build_optimizer,
    restore,
    save,
    wrap_model,
)
from reslab.train.state import IntervalMeter, TrainState


class TrainingDiverged(ReslabError):
    """The loss, the weights (or BN statistics, or optimizer state) became NaN or infinite."""

    exit_code = 4  # docs/training.md, "Exit status"


def train(
    config: TrainConfig,
    out: Path,
    *,
    resume: bool = False,
    length: Length | None = None,
    saved: TrainConfig | None = None,
) -> dict[str, Any]:
    """Train (or, with ``resume``, continue from its checkpoint) the run in ``out``; returns
    its summary. ``saved``: the run's configuration before this ``--resume`` amended it
    (``config``), for ``amendments.jsonl``."""
    dist = distributed.setup(config.run.device)
    run = None
    try:
        s = build_session(config, dist, length)
        if resume:
            restore(s, *_latest_checkpoint(out, s.device, warn=dist.main))
        if s.state.iteration > s.config.schedule.iterations:
            raise OptionError(
                f"{out} is at iteration {s.state.iteration}; a length of "
                f"{s.config.schedule.iterations} iterations would end before it"
            )
        if dist.main and saved is not None:
            truncate_metrics(out, s.state.iteration)
        run = RunDir(out, tensorboard=s.config.run.tensorboard) if dist.main else None
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
        distributed.teardown()


def _latest_checkpoint(out: Path, device: torch.device, *, warn: bool) -> tuple[dict, Path]:
    """``checkpoints/latest.pt``, or, when it is damaged or gone, the one before it
    (``latest.prev.pt``) with a warning: the run then repeats the iterations between them."""
    latest = out / "checkpoints" / "latest.pt"
    prev = previous_path(latest)
    try:
        return load_checkpoint(latest, map_location=device), latest
    except CheckpointError as err:
        if not prev.is_file():
            raise
        problem = err
    try:
        ckpt = load_checkpoint(prev, map_location=device)
    except CheckpointError as err:
        raise CheckpointError(f"{problem}; and the previous checkpoint: {err}") from None
    if warn:
        warnings.warn(
            f"{problem}; resuming from {prev} (iteration {ckpt.get('iteration')}) instead",
            ReslabWarning,
            stacklevel=3,
        )
    return ckpt, prev


def _write_config(s: Session, run: RunDir, saved: TrainConfig | None) -> None:
    """A new run writes its configuration and environment; a resumed one rewrites
    ``config.yaml`` only when the resume changed it, and records the change."""
    env = environment(s.device, s.dist.world_size)
    env.update(precision=s.config.run.precision, compiled=s.config.model.compile)
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
                "changes": {k: {"from": a, "to": b} for k, (a, b) in changed.items()},
            }
        )


def build_session(config: TrainConfig, dist: distributed.Dist, length: Length | None) -> Session:
    return session_from_loaders(config, dist, build_loaders(config, dist), length)


def build_loaders(config: TrainConfig, dist: distributed.Dist):
    from reslab.data import make_loaders, open_source

    d = config.data
    source = open_source(d.source, root=Path(d.root) if d.root else None, skip_bad=d.skip_bad)
    return make_loaders(
        source, batch_size=config.optim.batch_size, device=dist.device, seed=config.run.seed,
        normalization_kind=d.normalization, val_split=d.val_split, augment=d.augment,
        train_subset_per_class=d.train_subset_per_class,
        test_subset_per_class=d.test_subset_per_class, rank=dist.rank,
        world_size=dist.world_size, channels_last=config.model.channels_last,
        eval_batch_size=d.eval_batch_size, workers=d.workers, color_pca=d.color_pca,
        pad_value=d.pad_value,
    )  # fmt: skip


def session_from_loaders(
    config: TrainConfig, dist: distributed.Dist, loaders: Any, length: Length | None = None
) -> Session:
    """The model, optimizer and state that train on ``loaders`` (a ``reslab.data.Loaders``);
    ``reslab bench`` builds its sessions here too, so that it times the trainer's own step."""
    torch.manual_seed(config.run.seed)  # the same initial weights on every rank
    if dist.device.type == "cuda":
        # Input shapes are fixed: let cuDNN time its algorithms once and keep the fastest.
        torch.backends.cudnn.benchmark = True
    config = resolve_runtime(finalize(config, len(loaders.train), length), dist.device)
    model = build_model(config, len(loaders.classes), loaders.in_chans, dist)
    ema = build_ema(model, config.optim.ema_decay)
    fp16 = precision_dtype(config.run.precision) is torch.float16
    warming = warmup_applies(config.schedule, model.depth)
    state = TrainState(events=ScheduleEvents(warmup_end=None if warming else 0))
    return Session(
        config=config,
        dist=dist,
        loaders=loaders,
        model=wrap_model(model, config, dist),
        optimizer=build_optimizer(model, config),
        scaler=torch.amp.GradScaler(dist.device.type) if fp16 else None,
        ema=ema,
        criterion=nn.CrossEntropyLoss(label_smoothing=config.optim.label_smoothing),
        state=state,
        meter=IntervalMeter.zeros(dist.device),
    )


def _loop(s: Session, run: RunDir | None, out: Path) -> dict[str, Any]:
    cfg, st, clock = s.config, s.state, _Clock(s.state.wall_s)
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
                    s.meter.seconds += clock.lap()
                    st.wall_s = clock.total()
                    _log_train(s, run, lr, progress)
                if it % eval_every == 0 or it == total:
                    s.meter.seconds += clock.lap()
                    _evaluate_and_track(s, run, progress)
                    s.model.train()
                    clock.skip()  # evaluation time is not training time
                if it % cfg.run.checkpoint_every == 0 or it % eval_every == 0 or it == total:
                    s.meter.seconds += clock.lap()
                    st.wall_s = clock.total()
                    _checkpoint(s, run, out, x, y)
                    clock.skip()
                if _should_stop(s, stop):
                    status = "interrupted"
                    st.wall_s = clock.total()
                    _checkpoint(s, run, out, x, y)
                    break
                if it == total:
                    break
                progress.update(it)
    st.wall_s = clock.total()
    if status == "finished" and run is not None:  # the weights the summary reports
        save(s, run.ckpt_dir / "final.pt", with_train_state=False, weights=s.eval_model)
    return _summary(s, status)


class _Clock:
    """Wall time of the run over all its sessions, and training-only laps."""

    def __init__(self, before: float) -> None:
        self.before, self.start = before, time.monotonic()
        self.lap_start = self.start

    def total(self) -> float:
        return self.before + time.monotonic() - self.start

    def lap(self) -> float:
        now = time.monotonic()
        lap, self.lap_start = now - self.lap_start, now
        return lap

    def skip(self) -> None:
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
        raise _diverged(s, f"the training loss became {loss} at iteration {st.iteration}")
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


def _diverged(s: Session, what: str) -> TrainingDiverged:
    return TrainingDiverged(f"{what}; {_kept_checkpoint(s)}")


def _kept_checkpoint(s: Session) -> str:
    if s.last_saved is None:
        return (
            "no checkpoint was written yet (start again with a lower learning rate: "
            "reslab train --resume RUN_DIR --set optim.lr=...)"
        )
    return (
        f"the last good checkpoint (iteration {s.last_saved}) is kept in "
        "checkpoints/latest.pt (continue with a lower learning rate: reslab train "
        "--resume RUN_DIR --set optim.lr=..., or warm up)"
    )


def _nonfinite_tensor(s: Session) -> str | None:
    """The name of the first parameter, buffer (BN running statistics) or optimizer state
    tensor that holds a NaN or an infinity, on any rank; None when all are finite."""
    named = [*unwrap(s.model).named_parameters(), *unwrap(s.model).named_buffers()]
    if s.ema is not None:
        named += [(f"ema.{k}", t) for k, t in s.ema.module.state_dict().items()]
    for i, state in enumerate(s.optimizer.state.values()):
        named += [(f"optimizer.state[{i}].{k}", t) for k, t in state.items() if torch.is_tensor(t)]
    named = [(k, t) for k, t in named if t.is_floating_point()]
    finite = torch.stack([torch.isfinite(t).all() for _, t in named])  # one host sync
    bad = not bool(finite.all())
    if not distributed.any_rank(bad, s.device):
        return None
    if not bad:
        return "a tensor on another rank"
    return named[int((~finite).nonzero()[0])][0]


def _check_finite(s: Session) -> None:
    """Refuse to save non-finite weights: they are divergence, even when the loss of the
    last interval was still finite (a huge step makes BN's running_var overflow)."""
    name = _nonfinite_tensor(s)
    if name is not None:
        raise _diverged(s, f"{name} became non-finite by iteration {s.state.iteration}")


@torch.no_grad()
def _check_evaluable(s: Session, x: torch.Tensor, y: torch.Tensor) -> None:
    """The weights to be saved must give a finite loss in evaluation mode, on the last
    training batch: finite but huge BN running statistics (a step far too large) make
    every evaluation NaN while the training loss, on batch statistics, stays finite."""
    models = [unwrap(s.model), *([s.ema.module] if s.ema is not None else [])]
    losses = []
    for model in models:
        was_training = model.training
        model.eval()
        with s.autocast():
            logits = model(x)
        model.train(was_training)
        losses.append(s.criterion(logits.float(), y))
    bad = not bool(torch.isfinite(torch.stack(losses)).all())
    if distributed.any_rank(bad, s.device):
        raise _diverged(
            s,
            f"the weights of iteration {s.state.iteration} give a non-finite "
            "loss in evaluation mode (BN statistics out of range)",
        )


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
            raise _diverged(s, f"the {split} loss became {r['loss']} at iteration {st.iteration}")
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
        _check_finite(s)
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
        raise _diverged(
            s, f"the training loss became non-finite before iteration {s.state.iteration}"
        )
    _check_finite(s)
    _check_evaluable(s, x, y)
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
