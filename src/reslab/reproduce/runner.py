"""``reslab reproduce``: train an experiment's runs (skipping finished ones, resuming
interrupted ones), compute the Fig. 7 layer responses, and write the report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reslab.analysis.runs import REPRODUCE_FILE, RESPONSES_FILE
from reslab.errors import ReslabError
from reslab.fileio import write_json
from reslab.reproduce.experiments import RECIPE, Experiment, PlannedRun
from reslab.rundir import run_status

Status = str  # one of reslab.rundir.RUN_STATUSES
_TO_RESUME = ("unfinished", "interrupted")


@dataclass(frozen=True)
class RunOutcome:
    """What ``reproduce`` did to one planned run."""

    run: PlannedRun
    before: Status  # what the run directory held when reproduce started
    after: Status


def reproduce(
    experiment: Experiment,
    runs: list[PlannedRun],
    *,
    train: bool = True,
    echo: Callable[[str], None] = print,
) -> list[RunOutcome]:
    """Bring every run to ``finished`` (in order) and add the Fig. 7 responses; with
    ``train=False`` only finished runs get their responses and nothing trains."""
    from reslab.train.launch import launch

    outcomes = []
    for i, run in enumerate(runs, 1):
        before = run_status(run.run_dir)
        verb = (_VERB if train else _NO_TRAIN_VERB)[before]
        echo(f"[{i}/{len(runs)}] {run.run_dir}: {verb}")
        if before != "new":
            _ensure_reproduce_file(run, experiment)
        if train and before == "new":
            run.run_dir.mkdir(parents=True, exist_ok=True)
            _write_json(
                run.run_dir / REPRODUCE_FILE,
                {
                    "experiment": experiment.name,
                    "budget": run.budget.name,
                    "command": run.command,
                },
            )
            launch(**_launch_args(run))
        elif train and before in _TO_RESUME:
            launch(model=None, recipe=None, data=None, out=None, resume=run.run_dir)
        after = run_status(run.run_dir)
        if train and after in _TO_RESUME:  # interrupted (SIGINT, SIGTERM): a rerun continues
            raise ReslabError(f"{run.run_dir}: interrupted; run the same command to continue")
        outcomes.append(RunOutcome(run, before, after))
        if after == "finished" and run.spec.model in experiment.responses:
            _responses(run.run_dir, echo)
    return outcomes


_VERB = {
    "finished": "finished, skipped",
    "diverged": "diverged earlier, skipped",
    "unfinished": "resuming",
    "interrupted": "resuming",
    "new": "training",
}
_NO_TRAIN_VERB = {
    **_VERB,
    "unfinished": "not finished, left alone",
    "interrupted": "not finished, left alone",
    "new": "not trained yet, left alone",
}


def _launch_args(run: PlannedRun) -> dict:
    return dict(
        model=run.spec.model,
        recipe=RECIPE,
        data=run.data,
        out=run.run_dir,
        sets=list(run.sets),
        iterations=run.budget.iterations,
        seed=run.seed,
    )


def _ensure_reproduce_file(run: PlannedRun, experiment: Experiment) -> None:
    # A run trained by hand with the planned command (see --dry-run) joins the experiment.
    if not (run.run_dir / REPRODUCE_FILE).is_file():
        _write_json(
            run.run_dir / REPRODUCE_FILE,
            {
                "experiment": experiment.name,
                "budget": run.budget.name,
                "command": run.command,
            },
        )


def _responses(run_dir: Path, echo: Callable[[str], None]) -> None:
    """Fig. 7's layer responses of the final weights on the run's own test set."""
    if (run_dir / RESPONSES_FILE).is_file():
        return
    from reslab.analysis.responses import compute_and_save_responses
    from reslab.train.session import run_test_loader

    echo(f"    layer responses of {run_dir.name}")
    compute_and_save_responses(run_dir, run_test_loader(run_dir).batches(0))


def _write_json(path: Path, obj: dict) -> None:
    write_json(path, obj)
