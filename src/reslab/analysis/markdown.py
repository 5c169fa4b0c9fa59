"""Small Markdown helpers shared by the report's tables."""

from __future__ import annotations

from reslab.models import get_entry


def paper_error(model: str) -> str:
    """The registry's figure with the source's remark: '6.43 (best of 5; mean 6.61 +- 0.16)'."""
    paper = get_entry(model).paper
    if paper is None or paper.top1_err is None:
        return "-"
    remark = paper.source.partition("(")[2].rstrip(")")
    return f"{paper.top1_err:.2f}" + (f" ({remark})" if remark else "")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def md_cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")
