"""The ``reslab`` Typer app and what its commands share: consoles, option types, exit
statuses, JSON output, warnings as one line. Imports nothing heavy (no torch)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="reslab",
    help="Deep Residual Learning (He et al. 2015): models, training, evaluation, reproduction.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},  # subcommands inherit it
)
# Piped or captured output gets wide tables rather than rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, highlight=False)  # progress and errors; stdout stays clean

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


EXIT_INTERRUPTED = 3  # a run stopped by SIGINT/SIGTERM, checkpointed: --resume continues it
EXIT_CTRL_C = 130  # Ctrl-C outside a run's loop (128 + SIGINT, the shell's convention)


def print_json(obj: object) -> None:
    from reslab.jsonio import dumps  # NaN is not JSON: null, as in eval.json

    sys.stdout.write(dumps(obj, indent=2) + "\n")


def _show_version(value: bool) -> None:
    if value:
        from reslab import __version__

        typer.echo(f"reslab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Deep Residual Learning (He et al. 2015): models, training, evaluation, reproduction."""


def cache_root() -> Path:
    """``reslab.data.data_root() / "cache"`` without importing the data package (torchvision):
    $RESLAB_DATA, else ~/.cache/reslab."""
    import os

    return Path(os.environ.get("RESLAB_DATA") or "~/.cache/reslab").expanduser() / "cache"


def warnings_as_lines():
    """Print each ReslabWarning as one ``reslab: warning:`` line when it happens."""
    import contextlib
    import warnings

    from reslab.errors import ReslabWarning

    @contextlib.contextmanager
    def show():
        previous = warnings.showwarning

        def one_line(message, category, *args, **kwargs):
            if issubclass(category, ReslabWarning):
                typer.echo(f"reslab: warning: {message}", err=True)
            else:
                previous(message, category, *args, **kwargs)

        with warnings.catch_warnings():
            warnings.simplefilter("always", ReslabWarning)
            warnings.showwarning = one_line
            yield

    return show()


# Options of the commands that read checkpoints (eval, predict, recalibrate-bn, export).
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
RootOpt = Annotated[
    Path | None, typer.Option(help="Data root (default $RESLAB_DATA or ~/.cache/reslab).")
]
SkipBadOpt = Annotated[
    bool, typer.Option("--skip-bad", help="Skip unreadable images instead of failing.")
]
CheckpointArg = Annotated[
    Path,
    typer.Argument(
        help="A checkpoint file, a run directory (its final weights), or foreign weights "
        "(torchvision ImageNet ResNet, akamaster/pytorch_resnet_cifar10)."
    ),
]
NormalizationOpt = Annotated[
    str | None,
    typer.Option(
        help="Input normalisation instead of the recorded one: 'imagenet' (per-channel "
        "mean/std, the default for foreign weights) or MEAN,MEAN,MEAN/STD,STD,STD."
    ),
]
