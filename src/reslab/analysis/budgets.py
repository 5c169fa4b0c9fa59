"""The report's opening tables, which set the budgets side by side without mixing their runs
in one verdict or mean: each claim's verdict at each budget (at which fraction of the
paper's schedule a claim appears), and each network's test error at each."""

from __future__ import annotations

from reslab.analysis.claims import Claim, check_claims, fmt_values, group_finished
from reslab.analysis.markdown import md_cell, paper_error
from reslab.analysis.runs import Run, display_name
from reslab.paper import BUDGETS, CIFAR_ITERATIONS, PLAINS, RESNET_1202, RESNETS

TABLE6 = (*RESNETS, RESNET_1202)
BUDGET_ORDER = tuple(BUDGETS)  # longest first; others (e.g. "custom") follow
Studies = dict[tuple[str, str], list[Run]]  # (budget, dataset) -> runs


def claims_by_budget(studies: Studies) -> list[str]:
    """Per dataset, a table of each claim's verdict at every budget (smoke to paper), with
    the numbers that decide it, so that a reader sees at which fraction of the paper's
    schedule a claim appears."""
    lines: list[str] = []
    for data in dict.fromkeys(d for _, d in studies):
        verdicts = {
            budget: {c.key: c for c in check_claims([r for r in rs if r.finished])}
            for (budget, d), rs in studies.items()
            if d == data
        }
        budgets = [*reversed(BUDGET_ORDER), *(b for b in verdicts if b not in BUDGET_ORDER)]
        claims = next(iter(verdicts.values())).values()
        lines += [
            f"## The claims by budget, {data}",
            "",
            "| claim | " + " | ".join(f"`{b}`{_share(b, studies, data)}" for b in budgets) + " |",
            "|---|" + "---|" * len(budgets),
        ]
        for claim in claims:
            cells = [
                _verdict_cell(verdicts[b][claim.key]) if b in verdicts else "no runs"
                for b in budgets
            ]
            lines.append(f"| {claim.statement} | " + " | ".join(cells) + " |")
        lines += ["", "Each budget's section below gives the criteria and every run.", ""]
    return lines


def errors_by_budget(studies: Studies) -> list[str]:
    """Per dataset, each network's test error at every budget trained, beside the paper's:
    how far each schedule gets every net."""
    lines: list[str] = []
    for data in dict.fromkeys(d for _, d in studies):
        budgets = [b for b in reversed(BUDGET_ORDER) if (b, data) in studies]
        budgets += [b for b, d in studies if d == data and b not in budgets]
        groups = {b: group_finished(studies[b, data]) for b in budgets}
        models = [m for m in (*PLAINS, *TABLE6) if any((m, ()) in groups[b] for b in budgets)]
        if len(budgets) < 2 or not models:
            continue  # one budget: its own Table 6 says it all
        lines += [
            f"## Test error by budget, {data}",
            "",
            "| network | "
            + " | ".join(f"`{b}`{_share(b, studies, data)}" for b in budgets)
            + " | He et al. (Table 6) |",
            "|---|" + "---:|" * (len(budgets) + 1),
        ]
        for model in models:
            cells = [
                fmt_values([r.test_err for r in groups[b].get((model, ()), [])]) for b in budgets
            ]
            lines.append(
                f"| {display_name(model)} | " + " | ".join(cells) + f" | {paper_error(model)} |"
            )
        lines += [
            "",
            "Top-1 test error (%), default options; mean ± std over seeds where there are several.",
            "",
        ]
    return lines


def _share(budget: str, studies: Studies, data: str) -> str:
    """' (1/16)': the budget's longest run as a share of the paper's 64k iterations."""
    runs = studies.get((budget, data), [])
    longest = max((int((r.summary or {}).get("iterations") or 0) for r in runs), default=0)
    if not longest:
        return ""
    return " (full)" if longest >= CIFAR_ITERATIONS else f" ({fraction(longest)})"


def fraction(iterations: int) -> str:
    """A schedule's length as a share of the paper's: '1/16', '9%'."""
    if CIFAR_ITERATIONS % iterations == 0:
        return f"1/{CIFAR_ITERATIONS // iterations}"
    return f"{iterations / CIFAR_ITERATIONS:.0%}"


def _verdict_cell(claim: Claim) -> str:
    mark = {True: "**reproduced**", False: "**not reproduced**", None: "not tested"}
    return f"{mark[claim.reproduced]}: {md_cell(claim.evidence)}"
