"""Reproduce the paper's experiments: ``reslab reproduce EXPERIMENT --budget ...``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reslab.fileio import write_text
from reslab.reproduce.experiments import (
    BUDGETS,
    EXPERIMENTS,
    Budget,
    Experiment,
    PlannedRun,
    Spec,
    get_budget,
    get_experiment,
    plan,
)
from reslab.reproduce.runner import RunOutcome, reproduce, run_status

__all__ = [
    "BUDGETS",
    "EXPERIMENTS",
    "Budget",
    "Experiment",
    "PlannedRun",
    "RunOutcome",
    "Spec",
    "get_budget",
    "get_experiment",
    "plan",
    "reproduce",
    "run_experiment",
    "run_status",
    "write_table1",
]


def run_experiment(
    name: str,
    *,
    budget: str = "short",
    seeds: int = 1,
    data: str = "cifar10",
    out: Path = Path("runs/reproduce"),
    with_1202: bool = False,
    sets: tuple[str, ...] = (),
    dry_run: bool = False,
    train: bool = True,
    echo: Callable[[str], None] = print,
) -> Path | list[PlannedRun]:
    """Run (or with ``dry_run`` only plan) an experiment; returns the report's path, or
    the plan. ``train=False`` trains nothing: finished runs get their responses and the
    report is written. The report covers every run under ``out``, not only this
    experiment's."""
    from reslab.errors import OptionError

    experiment = get_experiment(name)
    if seeds < 1:
        raise OptionError(f"--seeds must be at least 1; got {seeds}")
    if not experiment.specs:  # Table 1 trains nothing
        return write_table1(out) if not dry_run else []
    runs = plan(
        experiment,
        get_budget(budget),
        seeds=seeds,
        data=data,
        out=out,
        with_1202=with_1202,
        sets=sets,
    )
    if dry_run:
        return runs
    reproduce(experiment, runs, train=train, echo=echo)
    from reslab.analysis.report import write_report

    return write_report(out)


def write_table1(out: Path) -> Path:
    """The paper's Table 1 from the model zoo, as ``OUT/table1.md``."""
    from reslab.analysis.architecture import table1, table1_markdown

    out.mkdir(parents=True, exist_ok=True)
    title = "# Table 1 (He et al. 2015): ImageNet architectures, generated from the model zoo"
    return write_text(out / "table1.md", f"{title}\n\n{table1_markdown(table1())}\n")
