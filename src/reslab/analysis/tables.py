"""Terminal tables (rich) for model and result listings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.table import Table


def si(value: float | None, unit: str = "") -> str:
    """12_345_678 -> '12.35M'; None -> '-'."""
    if value is None:
        return "-"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}{unit}"
    return f"{value:g}{unit}"


def millions(value: float | None) -> str:
    """0.27e6 -> '0.27M', as the paper prints parameter counts."""
    return "-" if value is None else f"{value / 1e6:.2f}M"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def models_table(rows: Iterable[Mapping[str, object]]) -> Table:
    """The model zoo, our measured figures beside the paper's ("paper" columns)."""
    table = Table(title="reslab model zoo (multiply-adds at the native input size)")
    for header, justify in [
        ("model", "left"),
        ("family", "left"),
        ("depth", "right"),
        ("block", "left"),
        ("shortcut", "left"),
        ("stride", "left"),
        ("input", "right"),
        ("params", "right"),
        ("paper params", "right"),
        ("mult-adds", "right"),
        ("paper mult-adds", "right"),
        ("paper top-1 err %", "right"),
        ("source", "left"),
    ]:
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(
            str(r["name"]),
            str(r["family"]),
            str(r["depth"]),
            str(r["block"]),
            str(r["shortcut"]),
            str(r["stride"]),
            f"{r['input_size']}²",
            f"{r['params']:,}",
            millions(r["paper_params"]),  # type: ignore[arg-type]
            si(r["macs"]),
            si(r["paper_macs"]),  # type: ignore[arg-type]
            pct(r["paper_top1_err"]),
            str(r["paper_source"] or "-"),  # type: ignore[arg-type]
        )
    return table
