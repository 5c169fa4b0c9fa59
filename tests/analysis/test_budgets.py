"""The report's opening tables, which set the budgets side by side."""

from __future__ import annotations

from pathlib import Path

from reslab.analysis.budgets import errors_by_budget, fraction
from reslab.analysis.report import group_studies, write_report
from reslab.analysis.runs import find_runs

from .conftest import write_study
from .rundirs import write_run


def test_fraction_of_the_papers_schedule() -> None:
    assert fraction(4000) == "1/16" and fraction(16_000) == "1/4" and fraction(6000) == "9%"


def test_the_claims_by_budget_table_shows_each_verdict_at_each_fraction(tmp_path: Path) -> None:
    """Rows: claims; columns smoke -> paper with the share of the schedule; cells: the
    verdict with its deciding numbers, or 'no runs' for a budget never trained."""
    write_study(tmp_path, budget="short", seeds=1)
    write_run(tmp_path / "paper" / "resnet20" / "seed0", budget="paper", iterations=64_000)
    text = write_report(tmp_path).read_text()
    table = text.split("## The claims by budget, CIFAR-10 (JPEG copy)")[1].split("\n## ")[0]
    header = next(line for line in table.splitlines() if line.startswith("| claim |"))
    assert header == "| claim | `smoke` | `short` (9%) | `medium` | `paper` (full) |"
    rows = [line for line in table.splitlines() if line.startswith("| ") and "claim |" not in line]
    assert len(rows) == 7  # every claim of analysis.claims
    degradation = next(r for r in rows if "degradation problem" in r)
    cells = [c.strip() for c in degradation.strip("|").split(" | ")]
    assert cells[1] == "no runs" and cells[3] == "no runs"
    assert cells[2].startswith("**reproduced**: ") and "%" in cells[2]
    assert cells[4].startswith("not tested: needs")  # only a ResNet-20 at the paper budget


def test_test_errors_by_budget_sit_side_by_side(study: Path, tmp_path: Path) -> None:
    assert errors_by_budget(group_studies(find_runs(study))) == []  # one budget: its Table 6
    write_study(tmp_path, budget="short", seeds=2)
    write_run(
        tmp_path / "paper" / "resnet20" / "seed0", budget="paper", iterations=64_000, test_err=7.9
    )
    text = write_report(tmp_path).read_text()
    table = text.split("## Test error by budget, CIFAR-10 (JPEG copy)")[1].split("\n## ")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[0] == "| network | `short` (9%) | `paper` (full) | He et al. (Table 6) |"
    resnet20 = next(r for r in rows if r.startswith("| ResNet-20 |"))
    assert resnet20 == "| ResNet-20 | 8.95 ± 0.07 (2 seeds) | 7.90 | 8.75 |"
    assert "| plain-56 | 13.05 ± 0.07 (2 seeds) | - | - |" in rows
    assert not any(r.startswith("| ResNet-1202 |") for r in rows)  # not finished anywhere
