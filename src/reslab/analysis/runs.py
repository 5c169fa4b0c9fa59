"""Reading run directories (docs/design.md, "Run directory") into typed objects.

A run directory is read as it stands: a run without ``summary.json`` is *unfinished* (still
training, or killed), which is not an error. A missing or corrupt ``config.yaml`` and a
malformed ``metrics.jsonl`` line are errors that name the file and the line.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reslab.errors import ReslabError
from reslab.fileio import read_json
from reslab.rundir import STATUSES, read_config, summary_status

# The contract's record and summary keys (docs/design.md). Tests of the trainer and of the
# fixtures here check real and synthetic run directories against the same sets.
TRAIN_KEYS = frozenset(
    {
        "kind",
        "iteration",
        "epoch",
        "lr",
        "train_loss",
        "train_top1_err",
        "images_per_s",
        "elapsed_s",
    }
)
EVAL_KEYS = frozenset(
    {"kind", "iteration", "epoch", "split", "loss", "top1_err", "top5_err", "images"}
)
SUMMARY_KEYS = frozenset(
    {
        "model",
        "model_options",
        "recipe",
        "data",
        "seed",
        "iterations",
        "epochs",
        "train_images",
        "test_top1_err",
        "test_top5_err",
        "test_loss",
        "best_val_top1_err",
        "best_val_iteration",
        "final_train_top1_err",
        "params",
        "wall_s",
        "device",
        "world_size",
        "status",
    }
)
# Written next to the contract's files by `reslab reproduce` and by compute_and_save_responses.
REPRODUCE_FILE = "reproduce.json"
RESPONSES_FILE = "responses.json"


class Records(Mapping[str, np.ndarray]):
    """Columns of equal length, one per record key: ``records["train_top1_err"]``."""

    def __init__(self, columns: Mapping[str, np.ndarray]) -> None:
        self._columns = dict(columns)

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> Records:
        return cls({k: np.array([r[k] for r in rows], dtype=np.float64) for k in keys})

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            return self._columns[key]
        except KeyError:
            raise KeyError(f"no column {key!r}; columns are {', '.join(self._columns)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        """The number of columns (a Mapping); ``rows`` is the number of records."""
        return len(self._columns)

    @property
    def rows(self) -> int:
        return len(next(iter(self._columns.values()), ()))


_TRAIN_COLUMNS = sorted(TRAIN_KEYS - {"kind"})
_EVAL_COLUMNS = sorted(EVAL_KEYS - {"kind", "split"})
EMPTY_TRAIN = Records({k: np.zeros(0) for k in _TRAIN_COLUMNS})
EMPTY_EVAL = Records({k: np.zeros(0) for k in _EVAL_COLUMNS})


@dataclass(frozen=True)
class Run:
    """One run directory: its files parsed, nothing derived that could go stale."""

    path: Path
    config: dict[str, Any]
    env: dict[str, Any]
    summary: dict[str, Any] | None
    train: Records  # "train" records, in file order
    evals: dict[str, Records]  # split ("test", "val") -> "eval" records
    reproduce: dict[str, Any] = field(default_factory=dict)  # reproduce.json, when present
    responses: dict[str, Any] | None = None  # responses.json, when present

    @property
    def model(self) -> str:
        return self.config["model"]["name"]

    @property
    def model_options(self) -> dict[str, Any]:
        return dict(self.config["model"].get("options") or {})

    @property
    def label(self) -> str:
        """The paper's name and any non-default options: 'ResNet-20 (shortcut B)'."""
        return display_name(self.model, canonical_options(self.model, self.model_options))

    @property
    def recipe(self) -> str:
        return str(self.config.get("recipe", "-"))

    @property
    def seed(self) -> int:
        return int((self.config.get("run") or {}).get("seed", 0))

    @property
    def status(self) -> str:
        """``finished``, ``interrupted``, ``diverged``, or ``unfinished`` (no summary yet):
        the vocabulary of :mod:`reslab.rundir`."""
        return summary_status(self.summary)

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def precision(self) -> str:
        """The arithmetic the run trained in. Runs from before ``run.precision`` was made
        concrete recorded "auto", which then meant bf16 on CUDA and fp32 elsewhere."""
        value = str((self.config.get("run") or {}).get("precision", "fp32"))
        if value != "auto":
            return value
        device = str((self.summary or {}).get("device") or self.env.get("device") or "cpu")
        return "bf16" if device.startswith("cuda") else "fp32"

    @property
    def budget(self) -> str:
        """The ``reslab reproduce`` budget (paper, short, smoke); "custom" for other runs."""
        return str(self.reproduce.get("budget", "custom"))

    @property
    def command(self) -> str | None:
        """The command that trains this run alone: the ``reslab train`` line that started
        it (env.json), else the one ``reslab reproduce`` planned for it (reproduce.json),
        since a run that ``reproduce`` started records that command instead. The planned
        line can differ from what ran, e.g. a queue's extra ``--set run.precision=bf16``."""
        started = self.env.get("command")
        if started and _subcommand(started) == "train":
            return started
        return self.reproduce.get("command") or started

    @property
    def data(self) -> str:
        """How the trainer described its data, else the configured source."""
        described = (self.summary or {}).get("data")
        if isinstance(described, dict):  # the loaders' description (docs/design.md)
            counts = ", ".join(
                f"{described[f'{split}_images']} {split}"
                for split in ("train", "val", "test")
                if described.get(f"{split}_images")
            )
            name = described.get("name") or described.get("source") or "-"
            return f"{name}: {counts} images" if counts else str(name)
        if described:
            return str(described)
        return str((self.config.get("data") or {}).get("source", "-"))

    @property
    def test_err(self) -> float | None:
        """The final test top-1 error (%) of a finished run."""
        if self.summary is None or not self.finished:
            return None
        return self.summary.get("test_top1_err")

    @property
    def test(self) -> Records:
        return self.evals.get("test", EMPTY_EVAL)

    @property
    def layer_stds(self) -> np.ndarray | None:
        """Per-3x3-layer response std from responses.json (see analysis.responses)."""
        return None if self.responses is None else np.asarray(self.responses["std"], float)


def read_run(path: str | Path) -> Run:
    """Read the run directory ``path``."""
    path = Path(path)
    config = read_config(path)
    summary = read_json(path / "summary.json", required=False)
    if summary is not None:
        _check_summary(path / "summary.json", summary)
    train, evals = _read_metrics(path / "metrics.jsonl", finished=summary is not None)
    return Run(
        path=path,
        config=config,
        env=read_json(path / "env.json", required=False) or {},
        summary=summary,
        train=train,
        evals=evals,
        reproduce=read_json(path / REPRODUCE_FILE, required=False) or {},
        responses=_read_responses(path / RESPONSES_FILE),
    )


def find_runs(root: str | Path) -> list[Run]:
    """Every run directory (one holding ``config.yaml``) at or under ``root``, sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise ReslabError(f"{root}: no such directory")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        if "config.yaml" in filenames:
            found.append(Path(dirpath))
            dirnames.clear()  # run directories do not nest
        else:
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    return [read_run(p) for p in sorted(found)]


def model_depth(model: str) -> int:
    """The depth in a model's name: 'resnet110' -> 110 (0 when there is none)."""
    return int(model[len(model.rstrip("0123456789")) :] or 0)


def display_name(model: str, options: Mapping[str, Any] | None = None) -> str:
    """The paper's names: resnet56 -> 'ResNet-56', plain20 -> 'plain-20'; options follow,
    e.g. 'ResNet-20 (shortcut B)'."""
    kind = model.rstrip("0123456789")
    depth = model[len(kind) :]
    names = {"resnet": "ResNet", "plain": "plain", "preact_resnet": "pre-act ResNet"}
    name = f"{names[kind]}-{depth}" if kind in names and depth else model
    extras = [f"{k} {v}" for k, v in sorted((options or {}).items())]
    return f"{name} ({', '.join(extras)})" if extras else name


def canonical_options(model: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` less those equal to the model's defaults (shortcut "A" on a CIFAR ResNet,
    num_classes 10 on CIFAR nets, ...), so that equal models compare equal."""
    from reslab.models import get_entry

    try:
        defaults = get_entry(model).defaults
    except ReslabError:  # a model this reslab does not know: keep everything
        return dict(options)
    missing = object()
    return {k: v for k, v in sorted(options.items()) if defaults.get(k, missing) != v}


# --- parsing ---------------------------------------------------------------------------


def _check_summary(file: Path, summary: dict[str, Any]) -> None:
    if summary.get("status") not in STATUSES:
        raise ReslabError(
            f"{file}: 'status' must be one of {', '.join(STATUSES)}; got {summary.get('status')!r}"
        )


def _read_metrics(file: Path, *, finished: bool) -> tuple[Records, dict[str, Records]]:
    if not file.is_file():
        return EMPTY_TRAIN, {}
    text = file.read_text()
    lines = text.splitlines()
    # A run killed mid-write may leave a torn last line; a finished run may not.
    torn_tail_ok = not finished and not text.endswith("\n")
    train: list[dict[str, Any]] = []
    evals: dict[str, list[dict[str, Any]]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if torn_tail_ok and number == len(lines):
                break
            raise ReslabError(f"{file}:{number}: not valid JSON ({err.msg})") from None
        if not isinstance(record, dict):
            raise ReslabError(f"{file}:{number}: expected a JSON object")
        kind = record.get("kind")
        if kind == "train":
            _check_record(file, number, record, TRAIN_KEYS)
            train.append(record)
        elif kind == "eval":
            _check_record(file, number, record, EVAL_KEYS)
            evals.setdefault(str(record["split"]), []).append(record)
        elif not isinstance(kind, str):
            raise ReslabError(f"{file}:{number}: record without a 'kind' (train or eval)")
        # Records of other kinds are for other readers (forward compatibility).
    return (
        Records.from_rows(train, _TRAIN_COLUMNS),
        {s: Records.from_rows(rows, _EVAL_COLUMNS) for s, rows in sorted(evals.items())},
    )


def _check_record(file: Path, number: int, record: dict[str, Any], keys: frozenset[str]) -> None:
    missing = sorted(keys - record.keys())
    if missing:
        raise ReslabError(f"{file}:{number}: {record['kind']} record lacks {', '.join(missing)}")
    bad = [k for k in keys - {"kind", "split"} if not _is_number(record[k])]
    if bad:
        raise ReslabError(f"{file}:{number}: {', '.join(sorted(bad))} must be numbers")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _read_responses(file: Path) -> dict[str, Any] | None:
    responses = read_json(file, required=False)
    if responses is not None and not (
        isinstance(responses.get("std"), list) and all(map(_is_number, responses["std"]))
    ):
        raise ReslabError(f"{file}: 'std' must be a list of numbers (one per 3x3 layer)")
    return responses


def _subcommand(command: str) -> str | None:
    """The subcommand (train or reproduce) a reslab command line runs; None for another."""
    try:
        words = shlex.split(command)
    except ValueError:  # unbalanced quotes: not a command line reslab wrote
        return None
    return next((w for w in words if w in ("train", "reproduce")), None)
