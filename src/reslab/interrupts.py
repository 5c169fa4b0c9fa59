"""Ctrl-C that library code swallows.

Python turns Ctrl-C into a KeyboardInterrupt in whatever code runs at that moment, and some
of the code ``reslab`` runs discards it: torch's C extension imports NumPy while it
initialises and ignores what that import raises, and a compiled run lost Ctrl-Cs later in
its start-up too (the spot was not traced). The command then carried on as if nothing had
been pressed. Measured with ``reslab train`` on a tiny dataset, one Ctrl-C per run at a
chosen delay: eager, 3 of 41 runs interrupted 1.2-1.6 s after their start kept training,
each interrupted inside ``import torch``, and none of 81 (0.9-1.7 s) once that import held
SIGINT back; compiled, with the import held, 2 of 2 runs interrupted 1.5 and 2.5 s after
their start on a loaded machine, and none of 10 (1.5-13 s, loaded) with both guards below.
So the CLI

- remembers every Ctrl-C (:func:`ctrl_c_pressed`), and the training loop, which handles
  Ctrl-C itself, does not start after one that was swallowed;
- holds SIGINT back while ``import torch`` runs and delivers it as soon as the import is
  done (at most a few seconds later), so that torch is never left half-initialised
  (without NumPy support) by an interrupt it swallowed.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

__all__ = ["ctrl_c_pressed", "held_interrupts", "hold_interrupts_while_importing", "watching"]

_pressed = False  # since the innermost ``watching()``: a process has one SIGINT


def _on_ctrl_c(signum: int, frame: object) -> None:
    global _pressed
    _pressed = True
    raise KeyboardInterrupt


def ctrl_c_pressed() -> bool:
    """Whether Ctrl-C was pressed inside ``watching()``, even if its KeyboardInterrupt was
    caught and dropped by the code it landed in."""
    return _pressed


def _main_thread() -> bool:
    # Only the main thread may set signal handlers, and it alone runs them.
    return threading.current_thread() is threading.main_thread()


@contextmanager
def watching(*held_imports: str) -> Iterator[None]:
    """Inside the block Ctrl-C raises KeyboardInterrupt as usual and is remembered
    (:func:`ctrl_c_pressed`), and a first import of the top-level modules ``held_imports``
    holds it back until the import ends."""
    global _pressed
    if not _main_thread():
        yield
        return
    _pressed = False
    previous = signal.signal(signal.SIGINT, _on_ctrl_c)
    finder = hold_interrupts_while_importing(*held_imports) if held_imports else None
    try:
        yield
    finally:
        if finder is not None and finder in sys.meta_path:
            sys.meta_path.remove(finder)
        signal.signal(signal.SIGINT, previous)


@contextmanager
def held_interrupts() -> Iterator[None]:
    """SIGINT is recorded, not acted on, inside the block, and re-raised at its end."""
    if not _main_thread():
        yield
        return
    pending: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if pending:
            signal.raise_signal(signal.SIGINT)


class _HoldWhileImporting(importlib.abc.MetaPathFinder):
    """Finds the top-level modules ``names`` the usual way and runs their import inside
    ``held_interrupts``."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path=None, target: ModuleType | None = None):
        if fullname not in self.names or fullname in sys.modules:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            with held_interrupts():
                run(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def hold_interrupts_while_importing(*names: str) -> importlib.abc.MetaPathFinder:
    """From now on, a first ``import`` of one of the top-level modules ``names`` holds SIGINT
    back until it finishes; returns the finder that does it (first on ``sys.meta_path``).
    A module already imported is left alone."""
    for finder in sys.meta_path:
        if isinstance(finder, _HoldWhileImporting) and finder.names == frozenset(names):
            return finder
    finder = _HoldWhileImporting(names)
    sys.meta_path.insert(0, finder)
    return finder
