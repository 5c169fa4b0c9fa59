"""``reslab train`` and ``reslab recipes``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reslab.cli.app import (
    EXIT_INTERRUPTED,
    JsonFlag,
    app,
    console,
    print_json,
    warnings_as_lines,
)


@app.command("train")
def train_cmd(
    model: Annotated[
        str | None, typer.Option(help="Model name (see 'reslab models'); default resnet20.")
    ] = None,
    recipe: Annotated[
        str | None, typer.Option(help="Recipe (see 'reslab recipes'; default cifar-paper).")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(help="Dataset path or name (cifar10, cifar100); default cifar10."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory to create.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML file of config overrides.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override one config key: --set optim.lr=0.05 (repeatable)."),
    ] = None,
    epochs: Annotated[
        float | None, typer.Option(help="Schedule length in epochs (milestones scale).")
    ] = None,
    iterations: Annotated[
        int | None, typer.Option(help="Schedule length in iterations (milestones scale).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default 0).")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue the run in this directory exactly.")
    ] = None,
    skip_bad: Annotated[
        bool,
        typer.Option("--skip-bad", help="Skip unreadable images (listed in summary.json)."),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the resolved config and schedule; train nothing."),
    ] = False,
) -> None:
    """Train a model; under torchrun, data-parallel over all processes. Exit status: 0
    finished, 2 a user error, 3 interrupted (resumable), 4 diverged (docs/training.md)."""
    from reslab.train.launch import launch

    with warnings_as_lines():
        summary = launch(
            model=model,
            recipe=recipe,
            data=data,
            out=out,
            config_file=config,
            sets=set_ or (),
            epochs=epochs,
            iterations=iterations,
            seed=seed,
            device=device,
            resume=resume,
            skip_bad=skip_bad,
            dry_run=dry_run,
        )
    if summary["status"] == "dry-run":
        typer.echo("\n".join(summary["plan"]))
        return
    typer.echo(
        f"{summary['model']}: test top-1 error {summary['test_top1_err']:.2f} % "
        f"(top-5 {summary['test_top5_err']:.2f} %) after {summary['iterations']} iterations"
    )
    typer.echo(f"run directory: {resume or out}")
    if summary.get("status") == "interrupted":
        typer.echo(
            f"interrupted at iteration {summary['iterations']}; continue with "
            f"--resume {resume or out}",
            err=True,
        )
        raise typer.Exit(EXIT_INTERRUPTED)


@app.command("recipes")
def recipes_cmd(
    name: Annotated[
        str | None, typer.Argument(help="Show this recipe's values (default: list them all).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the training recipes, or show one recipe's values."""
    from reslab.train.recipes import describe_recipes, recipe_overrides

    recipes = describe_recipes()
    if name is not None:
        values = recipe_overrides(name)  # an unknown name: error with the closest names
        if as_json:
            print_json({"name": name, "description": recipes[name], **values})
            return
        import yaml

        typer.echo(f"# {name}: {recipes[name]}")
        typer.echo(
            "# (over the defaults of reslab.train.config; see --dry-run for a run's "
            "resolved schedule)"
        )
        typer.echo(yaml.safe_dump(values, sort_keys=False).rstrip())
        return
    if as_json:
        print_json(recipes)
        return
    for key, text in recipes.items():
        console.print(f"[bold]{key:22}[/] {text}", highlight=False)
