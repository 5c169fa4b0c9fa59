"""The ``reslab`` command line: thin wiring from subcommands to the package's rooms.

Heavy modules are imported inside the commands so that ``reslab --help`` stays instant.
A :class:`~reslab.errors.ReslabError` (a user mistake) is printed as one line and exits
with its status (2, or one of the training statuses in docs/training.md); Ctrl-C exits
130 without a traceback (never lost inside library code: :mod:`reslab.interrupts`); any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import typer

from reslab.cli.app import EXIT_CTRL_C, app
from reslab.errors import ReslabError
from reslab.interrupts import watching

# Importing a command module registers its commands; --help lists them in this order.
# isort: off
from reslab.cli import catalog, train, evaluate, analysis, bench  # noqa: F401
# isort: on

# Metavars where neither the parameter's name in capitals nor N (numbers) is the best word.
METAVARS = {
    "set_": "KEY=VALUE",
    "out": "PATH",
    "config": "FILE.yaml",
    "resume": "RUN_DIR",
    "root": "DIR",
    "samples": "FILE.png",
    "x": "AXIS",
    "fmt": "FORMAT",
    "inputs": "IMAGE_OR_DIR",
    "runs": "RUN_DIR",
    "checkpoint": "CHECKPOINT",
}


def command():
    """The click command of ``app``, with readable metavars (``--out PATH``, ``--seed N``)
    instead of typer's type names (``<path>``, ``<int>``)."""
    root = typer.main.get_command(app)
    stack = [root]
    while stack:
        cmd = stack.pop()
        stack.extend(getattr(cmd, "commands", {}).values())
        for param in cmd.params:
            if param.metavar is not None or getattr(param, "is_flag", False):
                continue
            number = param.type_descriptor.annotation in (int, float)
            param.metavar = METAVARS.get(param.name) or ("N" if number else param.name.upper())
            if param.param_type_name == "argument":
                # typer prints an argument's type after its name ("RUN_DIR <list[Path]>"):
                # the help line already says what it takes.
                param.display_type_rich = lambda ctx: None
    return root


def main(argv: list[str] | None = None) -> None:
    try:
        with watching("torch"):  # no Ctrl-C lost inside library code: reslab/interrupts.py
            command()(args=argv, prog_name="reslab")
    except ReslabError as err:
        typer.echo(f"reslab: error: {err}", err=True)
        raise SystemExit(err.exit_code) from None
    except KeyboardInterrupt:  # before or after a run's loop, which handles its own
        typer.echo("reslab: interrupted", err=True)
        raise SystemExit(EXIT_CTRL_C) from None
