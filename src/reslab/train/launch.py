"""From command-line arguments to a started or resumed run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reslab.errors import OptionError, ReslabError
from reslab.train.config import Length, TrainConfig, from_dict, resolve
from reslab.train.rundir import read_config


def launch(
    *,
    model: str | None,
    recipe: str,
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
    from reslab.train.loop import train

    if resume is not None:
        config = resumed_config(resume, model=model, data=data, out=out)
        if skip_bad and not config.data.skip_bad:
            raise ReslabError(f"{resume} was made without --skip-bad; a resumed run keeps its "
                              "data: start a new run with --skip-bad")  # fmt: skip
        if dry_run:
            return _dry_run(config, None)
        return train(config, resume, resume=True)
    if out is None and not dry_run:
        raise OptionError("--out RUN_DIR is required (or --resume RUN_DIR)")
    if out is not None and (out / "config.yaml").exists() and not dry_run:
        raise ReslabError(
            f"{out} already holds a run; continue it with --resume {out} or choose another --out"
        )
    if epochs is not None and iterations is not None:
        raise OptionError("give --epochs or --iterations, not both")
    length: Length | None = None
    if epochs is not None:
        length = ("epochs", _positive("--epochs", epochs))
    elif iterations is not None:
        length = ("iterations", _positive("--iterations", iterations))
    flags = {"model.name": model, "data.source": data, "run.seed": seed, "run.device": device,
             "data.skip_bad": True if skip_bad else None}  # fmt: skip
    config = resolve(recipe, file=config_file, sets=sets, flags=flags)
    if dry_run:
        return _dry_run(config, length)
    assert out is not None
    return train(config, out, length=length)


def _dry_run(config: TrainConfig, length: Length | None) -> dict[str, Any]:
    from reslab.train.plan import plan_lines

    return {"status": "dry-run", "plan": plan_lines(config, length)}


def resumed_config(
    run_dir: Path, *, model: str | None, data: str | None, out: Path | None
) -> TrainConfig:
    """The saved configuration of ``run_dir``; flags that contradict it are errors."""
    if not (run_dir / "checkpoints" / "latest.pt").is_file():
        raise ReslabError(f"{run_dir}: nothing to resume (no checkpoints/latest.pt)")
    config = from_dict(read_config(run_dir))
    if model is not None and model != config.model.name:
        raise ReslabError(
            f"{run_dir} was made with model {config.model.name!r}; --model {model} differs"
        )
    if data is not None and data != config.data.source:
        raise ReslabError(f"{run_dir} was made with data {config.data.source!r}; --data differs")
    if out is not None and out.resolve() != run_dir.resolve():
        raise ReslabError(f"--resume continues {run_dir} in place; drop --out {out}")
    return config


def _positive(flag: str, value: float) -> float:
    if value <= 0:
        raise OptionError(f"{flag} must be positive; got {value}")
    return value
