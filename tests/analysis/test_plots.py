"""Figures: files are written, panels laid out as in the paper, bad input refused."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from reslab.analysis.plots import PAPER_YLIM, error_ylim, plot_curves, plot_fig6, plot_fig7
from reslab.analysis.runs import find_runs, read_run
from reslab.errors import OptionError

from .rundirs import write_run


def _image(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return matplotlib.image.imread(path)


@pytest.mark.parametrize("x", ["iterations", "epochs"])
def test_plot_curves(tmp_path: Path, x: str) -> None:
    runs = [read_run(write_run(tmp_path / m, model=m)) for m in ("resnet20", "plain56")]
    image = _image(plot_curves(runs, tmp_path / "curves.png", x=x))  # type: ignore[arg-type]
    assert image.shape[0] > 400 and image.shape[1] > 600


def test_fig6_has_a_third_panel_for_the_deep_runs(study: Path, tmp_path: Path) -> None:
    runs = {(r.model, r.seed): r for r in find_runs(study) if r.finished}
    plain = [runs["plain20", 0], runs["plain56", 0]]
    resnets = [runs[m, 0] for m in ("resnet20", "resnet56", "resnet110")]
    two = _image(plot_fig6(plain, resnets, tmp_path / "two.png"))
    three = _image(plot_fig6(plain, resnets, tmp_path / "three.png", deep=[runs["resnet110", 0]]))
    assert three.shape[1] > 1.3 * two.shape[1]
    _image(plot_fig6([], resnets, tmp_path / "no-plain.png"))  # an empty panel says so


def test_fig7(tmp_path: Path) -> None:
    responses = {"plain20": np.linspace(2, 1, 19), "resnet110": np.linspace(1, 0.5, 109)}
    assert _image(plot_fig7(responses, tmp_path / "fig7.png")).shape[0] > 600
    with pytest.raises(OptionError, match="at least one model"):
        plot_fig7({}, tmp_path / "none.png")


def test_y_axis_is_the_papers_unless_curves_would_be_cut(tmp_path: Path) -> None:
    low = read_run(write_run(tmp_path / "low", train_err=2.0, test_err=7.0))
    high = read_run(write_run(tmp_path / "high", train_err=40.0, test_err=45.0))
    assert error_ylim([low]) == PAPER_YLIM
    top = error_ylim([low, high])[1]
    assert 45 < top <= 60 and top % 10 == 0


def test_bad_input(tmp_path: Path) -> None:
    run = read_run(write_run(tmp_path / "run"))
    with pytest.raises(OptionError, match="--x must be one of"):
        plot_curves([run], tmp_path / "a.png", x="hours")  # type: ignore[arg-type]
    (tmp_path / "run" / "metrics.jsonl").write_text("")
    with pytest.raises(OptionError, match="no training or test records"):
        plot_curves([read_run(tmp_path / "run")], tmp_path / "a.png")
