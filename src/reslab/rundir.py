"""What every reader of a run directory shares: its configuration and its status.

``train`` writes run directories (:mod:`reslab.train.rundir`); ``train`` (on resume),
``analysis`` and ``reproduce`` read them through here (docs/design.md, "Run directory").

A run's status is one of :data:`RUN_STATUSES`: ``new`` (no ``config.yaml``),
``unfinished`` (a configuration, no ``summary.json``: training, or killed), or the
summary's ``status``, one of :data:`STATUSES`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from reslab.errors import ReslabError

CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.jsonl"
STATUSES = ("finished", "interrupted", "diverged")  # what summary.json's "status" holds
RUN_STATUSES = ("new", "unfinished", *STATUSES)


def read_config(run_dir: Path) -> dict[str, Any]:
    """The run's ``config.yaml`` as a plain dict; a missing or unreadable file, or one
    without ``model.name``, is a :class:`ReslabError` naming the file."""
    file = run_dir / CONFIG_FILE
    if not file.is_file():
        raise ReslabError(f"{run_dir}: not a run directory (no config.yaml)")
    try:
        config = yaml.safe_load(file.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ReslabError(f"{file}: not valid YAML{where}") from None
    if not isinstance(config, dict):
        raise ReslabError(f"{file}: expected a mapping of configuration sections")
    model = config.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("name"), str):
        raise ReslabError(f"{file}: missing key model.name (the model the run trains)")
    return config


def summary_status(summary: dict[str, Any] | None) -> str:
    """The status of a run that has a configuration: ``unfinished`` without a summary."""
    return "unfinished" if summary is None else summary["status"]


def run_status(run_dir: Path) -> str:
    """The status (:data:`RUN_STATUSES`) of ``run_dir`` as it stands, without checking its
    files: a summary that is unreadable, or whose status is not one of :data:`STATUSES`,
    counts as unfinished (a kill while it was written)."""
    try:
        status = json.loads((run_dir / SUMMARY_FILE).read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        status = None
    if status in STATUSES:
        return status
    return "unfinished" if (run_dir / CONFIG_FILE).is_file() else "new"


def progress(run_dir: Path) -> str:
    """``'4,550/16,000'``: the last iteration logged in ``metrics.jsonl`` of the configured
    ones (``''`` when nothing is logged). A resumed run restarts from its last checkpoint,
    up to ``run.checkpoint_every`` iterations before the logged one."""
    try:
        lines = (run_dir / METRICS_FILE).read_text().splitlines()
    except OSError:
        return ""
    done = None
    for line in reversed(lines):  # the last line may be cut short by a kill
        try:
            done = int(json.loads(line)["iteration"])
            break
        except (ValueError, KeyError, TypeError):
            continue
    if done is None:
        return ""
    try:
        total = int(read_config(run_dir)["schedule"]["iterations"])
    except (ReslabError, KeyError, TypeError, ValueError):
        return f"{done:,}"  # a schedule in epochs, or no readable config
    return f"{done:,}/{total:,}"
