"""``reslab models`` and ``reslab data inspect``: what the zoo and a dataset hold."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reslab.cli.app import (
    JsonFlag,
    RootOpt,
    SkipBadOpt,
    app,
    cache_root,
    console,
    err_console,
    print_json,
)
from reslab.errors import ReslabError


@app.command("models")
def models_cmd(
    pattern: Annotated[
        str | None, typer.Argument(help="Shell-style glob over model names, e.g. 'resnet*'.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the model zoo with parameters, multiply-adds and the paper's figures."""
    from reslab.analysis.tables import models_table
    from reslab.models import list_models
    from reslab.models.profile import describe_many

    names = list_models(pattern)
    if not names:
        raise ReslabError(f"no model matches {pattern!r}; run 'reslab models' for the full list")
    with err_console.status("counting parameters and multiply-adds (cached after the first call)"):
        rows = describe_many(names, cache_dir=cache_root())
    if as_json:
        print_json(rows)
    else:
        console.print(models_table(rows))


# --- data ------------------------------------------------------------------------------

data_app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("inspect")
def data_inspect_cmd(
    path: Annotated[
        str, typer.Argument(help="A dataset: CIFAR archive or folder, image folder, tar, name.")
    ],
    as_json: JsonFlag = False,
    samples: Annotated[
        Path | None, typer.Option(help="Write a contact sheet of samples per class (PNG).")
    ] = None,
    root: RootOpt = None,
    skip_bad: SkipBadOpt = False,
) -> None:
    """Detected format, classes, counts per split and class, image size, channel mean/std."""
    import warnings

    from reslab.data import DataWarning, open_source
    from reslab.data.report import contact_sheet, describe_table

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        source = open_source(path, root=root, skip_bad=skip_bad)
        info = source.describe()
        if samples is not None:
            info["samples"] = str(contact_sheet(source, samples))
    for w in caught:
        typer.echo(f"reslab: warning: {w.message}", err=True)
    if as_json:
        print_json(info)
        return
    console.print(describe_table(info))
    if samples is not None:
        console.print(f"contact sheet: {samples}", highlight=False)
