"""From command-line arguments to a started or resumed run.

A run directory is in one of four states: new (no ``config.yaml``), stranded (a
configuration but no checkpoint: its process died or diverged before the first one),
resumable (a checkpoint, no finished summary) or finished. A fresh start takes over a new
or stranded directory; ``--resume`` continues a stranded one from iteration 0 and a
resumable one from its checkpoint. Either holds the directory's lock from the first check
to the last write (:func:`reslab.train.rundir.locked`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from reslab.errors import OptionError, ReslabError, ReslabWarning
from reslab.fileio import previous_path, read_json
from reslab.rundir import read_config, run_status
from reslab.train.config import (
    RESUMABLE,
    Length,
    TrainConfig,
    apply_sets,
    changes,
    from_dict,
    resolve,
)
from reslab.train.rundir import locked, remove_temporaries

DEFAULT_RECIPE = "cifar-paper"


def launch(
    *,
    model: str | None,
    recipe: str | None,
    data: str | None,
    out: Path | None,
    config_file: Path | None = None,
    sets: Sequence[str] = (),
    epochs: float | None = None,
    iterations: int | None = None,
    seed: int | None = None,
    device: str | None = None,
    resume: Path | None = None,
    skip_bad: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Train, resume, or (``dry_run``) return ``{"status": "dry-run", "plan": [lines]}``: the
    resolved configuration and schedule, without training."""
    if epochs is not None and iterations is not None:
        raise OptionError("give --epochs or --iterations, not both")
    if resume is not None:
        if out is not None and out.resolve() != resume.resolve():
            raise ReslabError(f"--resume continues {resume} in place; drop --out {out}")
        if config_file is not None:
            raise OptionError(
                "--config is for a new run; give changes to a resumed run as --set key=value"
            )
        flags = {
            "model.name": model,
            "data.source": data,
            "run.seed": seed,
            "run.device": device,
            "recipe": recipe,
        }
        return _resume(resume, flags, sets, epochs, iterations, skip_bad=skip_bad, dry_run=dry_run)
    if out is None and not dry_run:
        raise OptionError("--out RUN_DIR is required (or --resume RUN_DIR)")
    length: Length | None = None
    if epochs is not None:
        length = ("epochs", _positive("--epochs", epochs))
    elif iterations is not None:
        length = ("iterations", _positive("--iterations", iterations))
    flags = {
        "model.name": model,
        "data.source": data,
        "run.seed": seed,
        "run.device": device,
        "data.skip_bad": True if skip_bad else None,
    }
    config = resolve(recipe or DEFAULT_RECIPE, file=config_file, sets=sets, flags=flags)
    if dry_run:
        return _dry_run(config, length)
    assert out is not None
    return _start(config, out, length)


def _dry_run(config: TrainConfig, length: Length | None) -> dict[str, Any]:
    from reslab.train.plan import plan_lines

    return {"status": "dry-run", "plan": plan_lines(config, length)}


def _start(config: TrainConfig, out: Path, length: Length | None) -> dict[str, Any]:
    from reslab.train.loop import train

    with _lock(out):
        state = run_state(out)
        if state in ("resumable", "finished"):
            raise ReslabError(
                f"{out} already holds a run; continue it with --resume {out} or choose "
                "another --out"
            )
        if state == "stranded" and _is_main():
            warnings.warn(
                f"{out} holds a run that stopped before its first checkpoint; "
                "starting afresh in its place",
                ReslabWarning,
                stacklevel=3,
            )
            for name in ("metrics.jsonl", "summary.json", "amendments.jsonl"):
                (out / name).unlink(missing_ok=True)
        _clean(out)
        return train(config, out, length=length)


def _resume(
    run_dir: Path,
    flags: dict[str, Any],
    sets: Sequence[str],
    epochs,
    iterations,
    *,
    skip_bad: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    from reslab.train.loop import resume

    if not (run_dir / "config.yaml").is_file():
        raise ReslabError(f"{run_dir}: nothing to resume (not a run directory: no config.yaml)")
    with _lock(run_dir):
        saved = from_dict(read_config(run_dir))
        config = amended_config(run_dir, saved, flags, sets, epochs, iterations)
        if skip_bad and not config.data.skip_bad:
            raise ReslabError(
                f"{run_dir} was made without --skip-bad; a resumed run keeps its "
                "data: start a new run with --skip-bad"
            )
        if dry_run:
            return _dry_run(config, None)
        state = run_state(run_dir)
        lengthened = (
            epochs is not None
            or iterations is not None
            or any(key.startswith(("schedule.iterations", "schedule.epochs")) for key in sets)
        )
        if state == "finished" and not lengthened:
            summary = read_json(run_dir / "summary.json")
            if config != saved:
                raise OptionError(
                    f"{run_dir} is finished ({summary.get('iterations')} iterations); changes "
                    "apply to further training: also give a longer --iterations or --epochs"
                )
            if _is_main():
                warnings.warn(
                    f"{run_dir} is finished ({summary.get('iterations')} "
                    "iterations); nothing changed (train longer with --iterations "
                    "or --epochs)",
                    ReslabWarning,
                    stacklevel=3,
                )
            return summary
        if state == "stranded" and _is_main():
            warnings.warn(
                f"{run_dir} stopped before its first checkpoint; training it from "
                "iteration 0 with its saved configuration",
                ReslabWarning,
                stacklevel=3,
            )
        _clean(run_dir)
        return resume(config, run_dir, saved=saved, from_checkpoint=state != "stranded")


def amended_config(
    run_dir: Path,
    saved: TrainConfig,
    flags: dict[str, Any],
    sets: Sequence[str],
    epochs,
    iterations,
) -> TrainConfig:
    """The saved configuration with the changes a resume asks for; a change of a key
    outside :data:`RESUMABLE` is an error naming it."""
    fixed = (
        ("model.name", "--model", "model"),
        ("data.source", "--data", "data"),
        ("run.seed", "--seed", "seed"),
        ("recipe", "--recipe", "recipe"),
    )
    for key, flag, what in fixed:
        value, section = flags.get(key), saved
        for part in key.split("."):
            section = getattr(section, part)
        if value is not None and value != section:
            raise ReslabError(
                f"{run_dir} was made with {what} {section!r}; {flag} {value} "
                "differs (start a new run with another --out)"
            )
    data = saved.to_dict()
    apply_sets(data, sets)
    if flags.get("run.device") is not None:
        data["run"]["device"] = flags["run.device"]
    if iterations is not None:
        data["schedule"].update(iterations=int(_positive("--iterations", iterations)), epochs=None)
    elif epochs is not None:
        data["schedule"].update(epochs=_positive("--epochs", epochs), iterations=None)
    config = from_dict(data)
    for key, (old, new) in changes(saved, config).items():
        if key not in RESUMABLE:
            raise OptionError(
                f"{key} cannot change when resuming ({old!r} in {run_dir / 'config.yaml'}, "
                f"asked for {new!r}): it is fixed for the life of a run; start a new run "
                "with another --out"
            )
    return config


def run_state(run_dir: Path) -> str:
    """ "new", "stranded", "resumable" or "finished" (see the module docstring)."""
    if not (run_dir / "config.yaml").is_file():
        return "new"
    latest = run_dir / "checkpoints" / "latest.pt"
    if not (latest.is_file() or previous_path(latest).is_file()):
        return "stranded"
    return "finished" if run_status(run_dir) == "finished" else "resumable"


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _lock(run_dir: Path) -> AbstractContextManager:
    """Rank 0 holds the lock (the other ranks never write to the run directory)."""
    return locked(run_dir) if _is_main() else nullcontext()


def _clean(run_dir: Path) -> None:
    if _is_main():
        remove_temporaries(run_dir)


def _positive(flag: str, value: float) -> float:
    if value <= 0:
        raise OptionError(f"{flag} must be positive; got {value}")
    return value
