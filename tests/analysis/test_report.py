"""`reslab report` on fixture run directories, and `reslab plot`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from reslab.analysis.report import _arithmetic, write_report
from reslab.analysis.runs import read_run
from reslab.models import get_entry

from .conftest import write_study
from .rundirs import write_run


@pytest.fixture(scope="module")
def report(study: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = write_report(study, tmp_path_factory.mktemp("out") / "report.md")
    return out, out.read_text()


def test_report_states_the_data_and_the_claims(report: tuple[Path, str]) -> None:
    _, text = report
    assert "## Budget `short`, CIFAR-10 (JPEG copy)" in text
    assert "quality 75, 4:2:0" in text  # why the errors sit above the paper's
    assert "6 reproduced, 0 not reproduced, 1 not tested." in text
    assert "the degradation problem. | Sec. 4.2, Fig. 6 (left) | **reproduced** |" in text
    assert "| not tested | needs finished runs of ResNet-1202 |" in text


def test_table6_sits_beside_the_papers_figures(report: tuple[Path, str]) -> None:
    _, text = report
    paper = get_entry("resnet110").paper
    assert paper is not None and paper.top1_err == 6.43
    row = next(line for line in text.splitlines() if line.startswith("| ResNet-110 | 110 |"))
    assert "| 1.70M (ours 1.73M) | 6.43 (best of 5; mean 6.61 +- 0.16) |" in row
    assert row.endswith("| 6.65 ± 0.07 | 6.60 | 2 |")
    assert "| ResNet-1202 | 1202 | 19.40M | 7.93 | - | - | - |" in text


def test_figures_are_written_and_linked(report: tuple[Path, str]) -> None:
    out, text = report
    for name in ("fig6", "fig7"):
        assert f"](figures/{name}.png)" in text
        assert (out.parent / "figures" / f"{name}.png").stat().st_size > 10_000
    assert "| ResNet-110 | 109 | 0.520 |" in text  # the Fig. 7 table: layers, mean std


def test_shortcuts_and_runs(report: tuple[Path, str]) -> None:
    _, text = report
    assert "The paper compares the options on ImageNet with ResNet-34" in text
    assert "| B | 8.60 | 8.60 | 1 |" in text
    runs = text.split("### Runs")[1]
    assert runs.count("\n| `short/") == 17
    row = next(line for line in runs.splitlines() if "`short/resnet1202/seed0`" in line)
    assert "| unfinished | - |" in row
    row = next(line for line in runs.splitlines() if "`short/resnet56/seed1`" in line)
    assert "| 1 | short | finished |" in row
    assert "| 0:25:00 | Test CPU (2 cores) | fp32, eager |" in row
    assert "`reslab train --model resnet56 --recipe cifar-paper" in row


def test_report_is_deterministic(study: Path, tmp_path: Path) -> None:
    first = write_report(study, tmp_path / "a" / "report.md").read_text()
    copy = shutil.copytree(study, tmp_path / "copy")
    second = write_report(copy, tmp_path / "b" / "report.md").read_text()
    assert first == second


def test_budgets_are_never_compared(tmp_path: Path) -> None:
    write_study(tmp_path, budget="smoke", seeds=1)
    write_run(tmp_path / "paper" / "resnet20" / "seed0", budget="paper", iterations=6000)
    text = write_report(tmp_path).read_text()
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections == [
        "## The claims by budget, CIFAR-10 (JPEG copy)",
        "## Test error by budget, CIFAR-10 (JPEG copy)",  # side by side, never mixed
        "## Budget `paper`, CIFAR-10 (JPEG copy)",
        "## Budget `smoke`, CIFAR-10 (JPEG copy)",
    ]
    assert "](figures/smoke-cifar-10-jpeg-copy-fig6.png)" in text
    assert (tmp_path / "figures" / "paper-cifar-10-jpeg-copy-fig6.png").is_file()


def test_figures_an_earlier_report_wrote_are_not_left_behind(tmp_path: Path) -> None:
    write_study(tmp_path, budget="short", seeds=1)
    write_report(tmp_path)
    figures = tmp_path / "figures"
    assert {p.name for p in figures.iterdir()} == {"fig6.png", "fig7.png"}
    (figures / "notes.png").write_bytes(b"")  # not the report's: kept
    write_run(tmp_path / "paper" / "resnet20" / "seed0", budget="paper", iterations=64_000)
    write_report(tmp_path)
    assert {p.name for p in figures.iterdir()} == {
        "notes.png",
        "paper-cifar-10-jpeg-copy-fig6.png",
        "short-cifar-10-jpeg-copy-fig6.png",
        "short-cifar-10-jpeg-copy-fig7.png",
    }


def test_cli_report(cli, study: Path, tmp_path: Path) -> None:
    code, out, _ = cli("report", str(study), "--out", str(tmp_path / "r.md"))
    assert code == 0 and "r.md" in out
    assert (tmp_path / "figures" / "fig6.png").is_file()
    code, _, err = cli("report", str(tmp_path / "figures"))
    assert code == 2 and "no run directories" in err


def test_cli_plot(cli, study: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(study / "short" / "resnet20" / "seed0", run)
    code, _, _ = cli("plot", str(run))
    assert code == 0 and (run / "curves.png").is_file()
    code, _, _ = cli(
        "plot", str(study / "short" / "plain20"), "--out", str(tmp_path / "p.png"), "--x", "epochs"
    )
    assert code == 0 and (tmp_path / "p.png").is_file()
    code, _, err = cli("plot", str(study / "short" / "plain20"))
    assert code == 2 and "2 runs given: choose the image with --out" in err
    code, _, err = cli("plot", str(run), "--x", "hours")
    assert code == 2 and "--x must be one of 'iterations', 'epochs'" in err


def test_a_shortened_schedule_is_flagged(report: tuple[Path, str], tmp_path: Path) -> None:
    _, text = report
    assert "train for 6,000 iterations, 9% of the paper's 64,000" in text
    write_run(
        tmp_path / "paper" / "resnet20" / "seed0",
        budget="paper",
        iterations=64_000,
        log_every=1000,
        eval_every=8000,
    )
    write_run(tmp_path / "short" / "resnet20" / "seed0", budget="short", iterations=4000)
    sections = write_report(tmp_path).read_text().split("## Budget")
    assert "About the schedule" not in sections[1]
    assert "train for 4,000 iterations, 1/16 of the paper's 64,000" in sections[2]


def test_a_claim_not_reproduced_gets_its_diagnosis(tmp_path: Path) -> None:
    """A second ResNet-110 seed that trained and tested worst decides the depth claim against
    the paper: the report says the deeper nets are under-fitted."""
    write_study(tmp_path, seeds=1)
    write_run(
        tmp_path / "short" / "resnet110" / "seed1",
        model="resnet110",
        seed=1,
        budget="short",
        iterations=6000,
        train_err=20.0,
        test_err=30.0,
        responses=[0.5] * 109,
    )
    text = write_report(tmp_path).read_text()
    assert "**Where a claim is not reproduced**, by rules fixed before" in text
    line = next(x for x in text.splitlines() if x.startswith("- *ResNets gain accuracy"))
    assert "Training error does not fall with depth either" in line and "; rho +0.00)" in line


def test_the_arithmetic_names_an_emulated_bf16(tmp_path: Path) -> None:
    """A run that trained bf16 without bf16 units says so (env.json ``bf16: emulated``)."""
    path = write_run(tmp_path / "run")
    config = yaml.safe_load((path / "config.yaml").read_text())
    config["run"]["precision"] = "bf16"
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    assert _arithmetic(read_run(path)) == "bf16, eager"
    env = json.loads((path / "env.json").read_text())
    (path / "env.json").write_text(json.dumps({**env, "bf16": "emulated"}))
    assert _arithmetic(read_run(path)) == "bf16 (emulated), eager"
