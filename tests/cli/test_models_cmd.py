"""``reslab models``: the zoo table and its JSON, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def test_models_json_reports_the_golden_figures(cli) -> None:
    code, out, _ = cli("models", "resnet*", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["resnet56"]["params"] == 853_018
    assert rows["resnet56"]["paper_top1_err"] == 6.97
    assert rows["resnet152"]["macs"] == pytest.approx(11.282e9, rel=0.005)
    assert rows["resnet50"]["stride"] == "1x1 (v1)"
    assert "plain20" not in rows


def test_models_table_renders(cli) -> None:
    code, out, _ = cli("models", "plain2*")
    assert code == 0
    assert "plain20" in out and "none (plain)" in out


def test_user_mistake_is_one_line_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "reslab", "models", "resnett*"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "reslab: error: no model matches 'resnett*'; run 'reslab models' for the full list"
    )
