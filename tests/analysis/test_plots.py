"""Figures: files are written, panels laid out as in the paper, bad input refused."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from reslab.analysis.plots import (
    PAPER_YLIM,
    curves_figure,
    error_ylim,
    fig6_figure,
    fig7_figure,
    plot_curves,
    plot_fig6,
    plot_fig7,
)
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
    one = _image(plot_fig6([], resnets, tmp_path / "no-plain.png"))  # no empty panel
    assert one.shape[1] < 0.7 * two.shape[1]
    assert len(fig6_figure([], resnets).axes) == 1
    with pytest.raises(OptionError, match="at least one run"):
        fig6_figure([], [])


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


def test_curves_show_every_point_and_name_the_run(tmp_path: Path) -> None:
    # write_run's curves fall from about 90 % to their final values.
    run = read_run(write_run(tmp_path / "r", train_err=2.0, test_err=7.0, recipe="cifar-quick"))
    ax = curves_figure([run]).axes[0]
    highest = max(float(run.train["train_top1_err"].max()), float(run.test["top1_err"].max()))
    low, high = ax.get_ylim()
    assert highest > 40 and low <= 0 and high >= highest  # the start is on the chart
    title = ax.get_title()
    assert title.startswith("ResNet-20 · cifar-quick · CIFAR-10 (JPEG copy)")
    assert title.splitlines()[1] == "r"  # the run's folder


def test_a_single_evaluation_is_drawn_as_a_marker(tmp_path: Path) -> None:
    run = read_run(write_run(tmp_path / "r", iterations=390, eval_every=390))
    assert run.test.rows == 1
    ax = curves_figure([run]).axes[0]
    (test_line,) = [line for line in ax.get_lines() if line.get_label() == "ResNet-20"]
    assert len(test_line.get_xdata()) == 1 and test_line.get_marker() == "o"


def test_an_interrupted_run_shows_its_final_test_error(tmp_path: Path) -> None:
    path = write_run(tmp_path / "r", iterations=300, eval_every=1000, status="interrupted")
    metrics = path / "metrics.jsonl"  # stopped before its first scheduled evaluation
    metrics.write_text(
        "".join(
            line + "\n" for line in metrics.read_text().splitlines() if '"kind": "eval"' not in line
        )
    )
    run = read_run(path)
    assert run.test.rows == 0 and run.summary["test_top1_err"] is not None
    ax = curves_figure([run]).axes[0]
    (test_line,) = [line for line in ax.get_lines() if line.get_label() == "ResNet-20"]
    assert list(test_line.get_xdata()) == [300.0]
    assert list(test_line.get_ydata()) == [run.summary["test_top1_err"]]
    assert "(interrupted)" in ax.get_title()


def test_fig7_legend_is_outside_the_panels() -> None:
    responses = {"plain20": np.linspace(2, 1, 19), "resnet110": np.linspace(1, 4, 109)}
    fig = fig7_figure(responses)
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    fig.canvas.draw()
    legend = fig.legends[0].get_window_extent()
    assert not any(legend.overlaps(ax.get_window_extent()) for ax in fig.axes)


def test_fig7_layer_ticks_are_whole_numbers() -> None:
    fig = fig7_figure({"resnet20": np.linspace(1, 0.5, 19)})
    fig.canvas.draw()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert len(ticks) >= 3 and all(float(t).is_integer() for t in ticks)
