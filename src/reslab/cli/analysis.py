"""``reslab plot``, ``report``, ``compare`` and ``reproduce``: runs and the paper's experiments."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reslab.cli.app import (
    JsonFlag,
    app,
    console,
    err_console,
    print_json,
)
from reslab.errors import ReslabError


@app.command("plot")
def plot_cmd(
    runs: Annotated[
        list[Path], typer.Argument(help="Run directories, or folders holding run directories.")
    ],
    out: Annotated[
        Path | None, typer.Option(help="PNG to write (default RUN/curves.png for one run).")
    ] = None,
    x: Annotated[str, typer.Option("--x", help="x axis: iterations or epochs.")] = "iterations",
) -> None:
    """Plot training (dashed) and test (bold) error curves in the paper's style."""
    from reslab.analysis.plots import plot_curves
    from reslab.analysis.runs import find_runs

    found = [run for path in runs for run in find_runs(path)]
    if not found:
        raise ReslabError(f"no run directories (with config.yaml) in {', '.join(map(str, runs))}")
    if out is None:
        if len(found) > 1:
            raise ReslabError(f"{len(found)} runs given: choose the image with --out FILE.png")
        out = found[0].path / "curves.png"
    console.print(f"wrote {plot_curves(found, out, x=x)}")  # type: ignore[arg-type]


@app.command("report")
def report_cmd(
    root: Annotated[Path, typer.Argument(help="A folder of run directories (any depth).")],
    out: Annotated[
        Path | None, typer.Option(help="Markdown file to write (default DIR/report.md).")
    ] = None,
) -> None:
    """Write a Markdown report with figures: the paper's claims checked, tables, every run."""
    from reslab.analysis.report import write_report

    with err_console.status("reading runs and drawing figures"):
        path = write_report(root, out)
    console.print(f"wrote {path}")


@app.command("compare")
def compare_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Run directories, or folders of them.")],
    by: Annotated[
        list[str], typer.Option(help="Config key to group by, e.g. run.precision (repeatable).")
    ],
    out: Annotated[Path | None, typer.Option(help="Markdown file to write.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Final test errors of finished runs, grouped by configuration values (mean ± std)."""
    from reslab.analysis.compare import compare_command, compare_markdown, compare_runs
    from reslab.fileio import write_text

    rows = compare_runs(paths, by)
    if as_json:
        print_json(rows)
        return
    text = compare_markdown(rows, by, compare_command(paths, by))
    if out is None:
        console.print(text, markup=False, highlight=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, text)
    console.print(f"wrote {out}")


# --- reproduce -------------------------------------------------------------------------


@app.command("reproduce")
def reproduce_cmd(
    experiment: Annotated[
        str,
        typer.Argument(
            help="cifar10-table6, cifar10-fig6, cifar10-fig7, shortcuts, imagenet-table1."
        ),
    ],
    budget: Annotated[
        str | None,
        typer.Option(
            help="paper, medium, short or smoke: required to train (--dry-run and --no-train "
            "default to short)."
        ),
    ] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per model (0..N-1).")] = 1,
    data: Annotated[str, typer.Option(help="CIFAR-10 path or name.")] = "cifar10",
    out: Annotated[Path, typer.Option(help="Folder of runs and the report.")] = Path(
        "runs/reproduce"
    ),
    with_1202: Annotated[
        bool, typer.Option("--with-1202", help="Also train ResNet-1202 (table6, fig6).")
    ] = False,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the runs and their state; train nothing.")
    ] = False,
    no_train: Annotated[
        bool,
        typer.Option("--no-train", help="Train nothing: responses and report from finished runs."),
    ] = False,
) -> None:
    """Train an experiment of the paper (finished runs skipped, interrupted ones resumed)
    and write the report on every run under --out."""
    from reslab.reproduce import run_experiment, run_status
    from reslab.rundir import progress

    budget = _reproduce_budget(
        budget, trains=not (dry_run or no_train or experiment == "imagenet-table1")
    )
    sets = (f"run.device={device}",) if device else ()
    result = run_experiment(
        experiment,
        budget=budget,
        seeds=seeds,
        data=data,
        out=out,
        with_1202=with_1202,
        sets=sets,
        dry_run=dry_run,
        train=not no_train,
        echo=lambda line: console.print(line, highlight=False),
    )
    if isinstance(result, Path):
        console.print(f"wrote {result}")
        return
    for run in result:
        status = run_status(run.run_dir)
        done = progress(run.run_dir) if status in ("unfinished", "interrupted") else ""
        line = f"{status:11} {done:13} {run.command}"
        console.print(line, highlight=False, soft_wrap=True)


def _reproduce_budget(budget: str | None, *, trains: bool) -> str:
    """Hours of CPU work never start by default: training needs an explicit --budget."""
    if budget is not None or not trains:
        return budget or "short"
    from reslab.paper import BUDGETS

    choices = "; ".join(f"{b.name}: {b.description}" for b in BUDGETS.values())
    raise ReslabError(
        f"--budget is required to train ({choices}); see the runs and their state first "
        "with --dry-run"
    )
