"""Figures in the paper's style: training curves (Fig. 4, Fig. 6) and layer responses (Fig. 7).

Matplotlib's object API on the Agg canvas: no pyplot state, no display needed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, MultipleLocator

from reslab.analysis.runs import Run, display_name, model_depth
from reslab.errors import OptionError, check_choice
from reslab.fileio import atomic_path

XAxis = Literal["iterations", "epochs"]
# One colour per depth, the same in every figure; the paper's Fig. 6 and 7 follow a similar
# scheme (20 yellow, 32 cyan, 44 green, 56 red, 110 black).
DEPTH_COLORS = {
    20: "#e8a200",
    32: "#17a9c6",
    44: "#2f9e44",
    56: "#d62728",
    110: "#111111",
    1202: "#7b3fb5",
}
FALLBACK = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
PAPER_YLIM = (0.0, 20.0)  # Fig. 6: error (%) from 0 to 20
# The paper: "dashed lines denote training error, and bold lines denote testing error".
TRAIN_STYLE = {"linestyle": "--", "linewidth": 0.9}
TEST_STYLE = {"linestyle": "-", "linewidth": 2.0}


def plot_curves(
    runs: Sequence[Run],
    path: str | Path,
    *,
    x: XAxis = "iterations",
    title: str | None = None,
    ylim: tuple[float, float] | None = None,
) -> Path:
    """Training (dashed) and test (bold) error of each run, one colour per run. The y axis
    holds every point (``ylim`` to zoom); the title names the run, recipe and data."""
    return save(curves_figure(runs, x=x, title=title, ylim=ylim), path)


def curves_figure(
    runs: Sequence[Run],
    *,
    x: XAxis = "iterations",
    title: str | None = None,
    ylim: tuple[float, float] | None = None,
) -> Figure:
    check_choice("--x", x, ("iterations", "epochs"))
    runs = _with_records(runs)
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.add_subplot()
    scale, xlabel = _x_axis(runs, x)
    _draw(ax, runs, x, scale, _labels(runs))
    _style(ax, xlabel, ylim or full_ylim(runs), title or curves_title(runs))
    _legend(ax)
    return fig


def curves_title(runs: Sequence[Run]) -> str:
    """'ResNet-20 · cifar-quick · cifar10-jpeg: 50000 train, 10000 test images' and the
    run's folder; for several runs, their number and the recipes and data they share."""
    if len(runs) == 1:
        r = runs[0]
        status = "" if r.finished else f" ({r.status})"
        return f"{r.label} · {r.recipe} · {r.data}\n{r.path.name}{status}"
    recipes = sorted({r.recipe for r in runs})
    data = sorted({r.data for r in runs})
    return (
        f"{len(runs)} runs · {', '.join(recipes)}\n"
        f"{data[0] if len(data) == 1 else f'{len(data)} datasets'}"
    )


def plot_fig6(
    plain_runs: Sequence[Run],
    resnet_runs: Sequence[Run],
    path: str | Path,
    deep: Sequence[Run] | None = None,
    *,
    x: XAxis = "iterations",
) -> Path:
    """Fig. 6: plain nets (left), ResNets (middle), and, when ``deep`` runs are given,
    ResNet-110 against ResNet-1202 (right); one run per model, shared y axis."""
    return save(fig6_figure(plain_runs, resnet_runs, deep, x=x), path)


def fig6_figure(
    plain_runs: Sequence[Run],
    resnet_runs: Sequence[Run],
    deep: Sequence[Run] | None = None,
    *,
    x: XAxis = "iterations",
) -> Figure:
    check_choice("x", x, ("iterations", "epochs"))
    panels = [("plain networks", plain_runs), ("ResNets", resnet_runs)]
    if deep:
        panels.append(("ResNet-110 and ResNet-1202", deep))
    # Only panels with runs: a smoke or partial study draws no empty frames.
    panels = [(name, _with_records(rs)) for name, rs in panels if rs]
    if not panels:
        raise OptionError("plot_fig6 needs at least one run")
    everything = [r for _, rs in panels for r in rs]
    scale, xlabel = _x_axis(everything, x)
    ylim = error_ylim(everything)
    fig = Figure(figsize=(4.6 * len(panels), 4.0), layout="constrained")
    axes = fig.subplots(1, len(panels), sharex=True, sharey=True, squeeze=False)[0]
    for ax, (name, rs) in zip(axes, panels, strict=True):
        _draw(ax, rs, x, scale, _labels(rs))
        _style(ax, xlabel, ylim, name)
        _legend(ax)
    for ax in axes[1:]:
        ax.set_ylabel("")
    fig.suptitle("CIFAR-10: training error (dashed) and test error (bold)", fontsize=11)
    return fig


def plot_fig7(responses: Mapping[str, np.ndarray], path: str | Path) -> Path:
    """Fig. 7: std of each 3x3 layer's response, in layer order (top) and sorted by
    magnitude, descending (bottom). Keys are model names (plain20, resnet56, ...)."""
    return save(fig7_figure(responses), path)


def fig7_figure(responses: Mapping[str, np.ndarray]) -> Figure:
    if not responses:
        raise OptionError("plot_fig7 needs the responses of at least one model")
    fig = Figure(figsize=(8.2, 6.4), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharey=True)
    for i, (model, stds) in enumerate(responses.items()):
        stds = np.asarray(stds, float)
        layers = np.arange(1, len(stds) + 1)
        # Plain and residual nets of one depth share a colour: plain dashed, ResNet solid.
        plain = model.startswith("plain")
        style = {
            "color": _depth_color(model, i),
            "label": display_name(model),
            "linestyle": "--" if plain else "-",
            "linewidth": 1.2 if plain else 1.6,
        }
        top.plot(layers, stds, **style)
        bottom.plot(layers, np.sort(stds)[::-1], **style)
    for ax, order in ((top, "original"), (bottom, "sorted by magnitude")):
        ax.set_xlabel(f"layer index ({order})")
        ax.set_ylabel("std")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # layers are counted
        ax.grid(True, color="0.9", linewidth=0.6)
    # One legend outside the panels: inside, it covered the deepest net's last layers.
    fig.legend(
        *top.get_legend_handles_labels(), loc="outside right center", fontsize=8, frameon=False
    )
    fig.suptitle(
        "CIFAR-10: std of layer responses (3x3 layers, after BN, before ReLU/addition)", fontsize=10
    )
    return fig


def error_ylim(runs: Sequence[Run]) -> tuple[float, float]:
    """The paper's 0-20 % when every curve's second half fits, else the next 10 % above it."""
    late = [
        float(np.nanmax(v[len(v) // 2 :]))
        for r in runs
        for v in (r.train["train_top1_err"], r.test["top1_err"])
        if len(v)
    ]
    high = max(late, default=0.0)
    if high <= PAPER_YLIM[1]:
        return PAPER_YLIM
    return 0.0, float(min(100, 10 * math.ceil(high * 1.05 / 10)))


def full_ylim(runs: Sequence[Run]) -> tuple[float, float]:
    """0 to the next 10 % above every point drawn (at most 100): nothing is off the chart.
    The axis starts a little below 0 so that a point at 0 % shows whole."""
    values = [
        float(np.nanmax(v))
        for r in runs
        for v in (r.train["train_top1_err"], r.test["top1_err"])
        if len(v)
    ]
    values += [p[1] for r in runs if (p := _final_test_point(r, "iteration")) is not None]
    high = max(values, default=0.0)
    top = float(min(100, max(10, 10 * math.ceil(high * 1.02 / 10))))
    return -0.015 * top, top


def save(fig: Figure, path: str | Path) -> Path:
    """Write the PNG atomically (see :func:`reslab.fileio.atomic_path`)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=150, metadata={"Software": None})
    return Path(path)


# --- drawing ---------------------------------------------------------------------------


def _with_records(runs: Sequence[Run]) -> list[Run]:
    runs = list(runs)
    empty = [str(r.path) for r in runs if r.train.rows == 0 and r.test.rows == 0]
    if empty:
        raise OptionError(f"no training or test records to plot in {', '.join(empty)}")
    return runs


def _x_axis(runs: Sequence[Run], x: XAxis) -> tuple[float, str]:
    """Iterations in units of 1e4 as in Fig. 6 ('iter. (1e4)') when runs are that long."""
    if x == "epochs":
        return 1.0, "epochs"
    longest = max((float(r.train["iteration"].max()) for r in runs if r.train.rows), default=0)
    for scale, label in ((1e4, "iter. (1e4)"), (1e3, "iter. (1e3)")):
        if longest >= 2 * scale:
            return scale, label
    return 1.0, "iterations"


def _labels(runs: Sequence[Run]) -> list[str]:
    """The runs' names, with the seed where two runs share a name."""
    names = [r.label for r in runs]
    return [
        f"{n} (seed {r.seed})" if names.count(n) > 1 else n
        for n, r in zip(names, runs, strict=True)
    ]


def _depth_color(model: str, i: int) -> str:
    return DEPTH_COLORS.get(model_depth(model)) or FALLBACK[i % len(FALLBACK)]


def _run_colors(runs: Sequence[Run]) -> list[str]:
    """The depth colours when the runs' depths are distinct, else a cycle."""
    depths = [model_depth(r.model) for r in runs]
    if len(set(depths)) == len(depths):
        return [_depth_color(r.model, i) for i, r in enumerate(runs)]
    return [FALLBACK[i % len(FALLBACK)] for i in range(len(runs))]


def _final_test_point(run: Run, key: str) -> tuple[float, float] | None:
    """The summary's test error when it comes after the last test record: an interrupted
    run is evaluated when it stops, between the scheduled evaluations."""
    s = run.summary
    if not s or s.get("test_top1_err") is None or s.get("iterations") is None:
        return None
    if run.test.rows and float(run.test["iteration"].max()) >= s["iterations"]:
        return None
    at = s["iterations"] if key == "iteration" else s.get("epochs")
    return None if at is None else (float(at), float(s["test_top1_err"]))


def _draw(ax, runs: Sequence[Run], x: XAxis, scale: float, labels: Sequence[str]) -> None:
    key = "iteration" if x == "iterations" else "epoch"
    for run, label, color in zip(runs, labels, _run_colors(runs), strict=True):
        if run.train.rows:
            ax.plot(
                run.train[key] / scale,
                run.train["train_top1_err"],
                color=color,
                marker="." if run.train.rows == 1 else None,
                **TRAIN_STYLE,
            )
        xs = list(run.test[key]) if run.test.rows else []
        ys = list(run.test["top1_err"]) if run.test.rows else []
        final = _final_test_point(run, key)
        if final is not None:
            xs, ys = [*xs, final[0]], [*ys, final[1]]
        if xs:
            # A line needs two points: mark each one when there are few.
            marker = "o" if len(xs) <= 12 else None
            ax.plot(
                np.asarray(xs, float) / scale,
                ys,
                color=color,
                label=label,
                marker=marker,
                markersize=4,
                **TEST_STYLE,
            )


def _style(ax, xlabel: str, ylim: tuple[float, float], title: str | None) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel("error (%)")
    ax.set_ylim(*ylim)
    ax.yaxis.set_major_locator(MultipleLocator(5 if ylim[1] <= 20 else 10))
    ax.set_xlim(left=0)
    ax.grid(True, color="0.9", linewidth=0.6)
    if title:
        ax.set_title(title, fontsize=10)


def _legend(ax) -> None:
    """Model names (bold test lines), then what dashed and bold mean."""
    handles, labels = ax.get_legend_handles_labels()
    handles += [
        Line2D([], [], color="0.4", **TRAIN_STYLE),
        Line2D([], [], color="0.4", **TEST_STYLE),
    ]
    labels += ["training error", "test error"]
    ax.legend(handles, labels, loc="best", fontsize=8, framealpha=0.9, edgecolor="0.8")
