"""User-facing errors.

Every mistake a user can make (an unknown name, a bad option, a missing file) raises a
subclass of :class:`ReslabError`. The CLI prints such errors as one line and exits with
the error's ``exit_code`` (2, or a more specific status documented in docs/training.md);
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ReslabError(Exception):
    """A mistake in the user's input, reported without a traceback by the CLI."""

    exit_code = 2


class OptionError(ReslabError, ValueError):
    """An argument has a value outside the allowed set."""


class UnknownNameError(ReslabError, KeyError):
    """A name (model, recipe, config key, ...) that is not registered."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


class DataError(ReslabError):
    """A dataset that is missing, malformed or inconsistent."""


class CheckpointError(ReslabError):
    """A checkpoint that is missing, truncated, foreign or of another model."""


class DiskFullError(ReslabError, OSError):
    """No space left on the device while writing a file; the previous version is intact."""


class RunLockedError(ReslabError):
    """A run directory that another live reslab process holds."""


class ReslabWarning(UserWarning):
    """Something the user should know that does not stop the command (printed as one
    ``reslab: warning:`` line by the CLI)."""


class ExportError(ReslabError):
    """An export that cannot be written, or whose artefact does not reproduce PyTorch."""


def closest(name: str, choices: Iterable[str], n: int = 5) -> list[str]:
    """The registered names most similar to ``name``, best first."""
    return difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)


def unknown(kind: str, name: str, choices: Iterable[str]) -> UnknownNameError:
    """An error for an unknown ``name`` of ``kind`` that suggests the closest choices."""
    choices = sorted(choices)
    near = closest(name, choices)
    hint = f"did you mean {', '.join(near)}?" if near else f"choose from {', '.join(choices)}"
    return UnknownNameError(f"unknown {kind} {name!r}; {hint}")


def check_choice(argument: str, value: object, allowed: Iterable[object]) -> None:
    """Raise :class:`OptionError` naming ``argument`` unless ``value`` is in ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        shown = ", ".join(repr(a) for a in allowed)
        raise OptionError(f"{argument} must be one of {shown}; got {value!r}")
