"""The house's shape (docs/design.md): rooms import each other one way, modules stay
small, and ``import reslab`` stays light."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import reslab

PACKAGE = Path(reslab.__file__).parent
MAX_LINES = 450


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("reslab", *path.relative_to(PACKAGE).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def _imported(name: str, path: Path) -> Iterator[str]:
    """The reslab modules that ``name`` imports anywhere in its body (lazy imports too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target.startswith("reslab") and target != name:
                yield target


def _room(name: str) -> str:
    """``reslab.train.loop`` -> ``reslab.train``; a top-level module is its own room."""
    parts = name.split(".")
    return ".".join(parts[:2])


def _room_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        for target in _imported(name, path):
            if _room(target) != _room(name) and _room(name) != "reslab":
                graph.setdefault(_room(name), set()).add(_room(target))
    return graph


def test_rooms_import_each_other_without_a_cycle() -> None:
    graph = _room_graph()

    def path_back(start: str, goal: str, seen: set[str]) -> list[str] | None:
        for nxt in sorted(graph.get(start, ())):
            if nxt == goal:
                return [start, nxt]
            if nxt not in seen:
                seen.add(nxt)
                rest = path_back(nxt, goal, seen)
                if rest:
                    return [start, *rest]
        return None

    cycles = [
        " -> ".join([room, *cycle[1:]])
        for room in sorted(graph)
        if (cycle := path_back(room, room, set()))
    ]
    assert not cycles, f"import cycles between rooms: {cycles}"


# docs/design.md: rooms that stand side by side, and the ground floor under every room.
APART = [
    ("reslab.models", "reslab.data"),
    ("reslab.data", "reslab.models"),
    ("reslab.train", "reslab.evaluate"),
    ("reslab.evaluate", "reslab.train"),
    ("reslab.analysis", "reslab.train"),
]
GROUND = ["errors", "fileio", "jsonio", "meter", "device", "rundir", "checkpoint", "paper"]
ROOMS = ["models", "data", "train", "evaluate", "analysis", "reproduce", "bench", "cli"]


@pytest.mark.parametrize(("room", "other"), APART)
def test_rooms_side_by_side_never_import_each_other(room: str, other: str) -> None:
    assert other not in _room_graph().get(room, set())


@pytest.mark.parametrize("module", GROUND)
def test_the_ground_floor_imports_no_room(module: str) -> None:
    rooms = _room_graph().get(f"reslab.{module}", set())
    assert not rooms & {f"reslab.{r}" for r in ROOMS}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name: str) -> None:
    lines = MODULES[name].read_text().count("\n")
    assert lines <= MAX_LINES, f"{MODULES[name]}: {lines} lines (split it; at most {MAX_LINES})"
