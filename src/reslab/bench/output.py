"""``bench.json``, ``bench.md`` and the terminal table."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# --- output ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    title: str
    value: Callable[[dict], str]
    justify: str = "right"


def _fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def _fmt_flops(x: float) -> str:
    return f"{x / 1e9:,.1f}"


COLUMNS = (
    Column("model", lambda r: f"{r['model']} ({r['input_size']}px)", "left"),
    Column("reslab train img/s", lambda r: _fmt_rate(r["reslab_train_images_per_s"])),
    Column("torchvision train img/s", lambda r: _fmt_rate(r["torchvision_train_images_per_s"])),
    Column("speed-up", lambda r: f"{r['speedup_vs_torchvision']:.2f}x"),
    Column("bare step img/s", lambda r: _fmt_rate(r["bare_train_images_per_s"])),
    Column("reslab / bare", lambda r: f"{100 * r['pipeline_efficiency']:.0f} %"),
    Column("reslab infer img/s", lambda r: _fmt_rate(r["reslab_infer_images_per_s"])),
    Column("train GFLOP/s", lambda r: _fmt_flops(r["reslab_train_flops_per_s"])),
    Column("% of peak", lambda r: f"{100 * r['reslab_train_peak_share']:.1f}"),
    Column("infer % of peak", lambda r: f"{100 * r['reslab_infer_peak_share']:.1f}"),
    Column("peak memory (ckpt)", lambda r: _fmt_memory(r["memory"])),
)


def _fmt_memory(m: dict | None) -> str:
    if m is None:
        return "-"
    return f"{m['bytes'] / 2**20:,.0f} MiB ({m['bytes_checkpointed'] / 2**20:,.0f} MiB)"


def setup_line(result: dict) -> str:
    s, env = result["settings"], result["environment"]
    peaks = result.get("matmul_peaks", [result["matmul_peak"]])
    compiled = "compiled" if s.get("compile") else "eager"
    return (
        f"{env['hardware']}; torch {env['torch']}, {s['threads']} threads; device "
        f"{s['device']} ({s['precision']}, {compiled}, channels_last); batch {s['batch']}, "
        f"{s['steps']} timed steps after {s['warmup']}; torchvision DataLoader "
        f"{s['workers']} workers; matmul peak "
        + ", ".join(
            f"{p['flops_per_s'] / 1e9:,.1f} GFLOP/s ({p['dtype']}, {p['size']}^2)" for p in peaks
        )
    )


MATRIX = ("fp32-eager", "fp32-compiled", "bf16-eager", "bf16-compiled")


def matrix_markdown(result: dict) -> list[str]:
    """The training rate per precision x compilation, and each against fp32 eager."""
    rows = [r for r in result["models"] if r.get("settings")]
    if not rows:
        return []

    def cell(r: dict, key: str) -> str:
        rate, base = r["settings"][key], r["settings"]["fp32-eager"]
        return "-" if rate is None else f"{rate:,.0f} ({rate / base:.2f}x)"

    emulated = result["settings"].get("bf16") == "emulated"
    return [
        "",
        "reslab training step, images/s (against fp32 eager):"
        + (" bf16 is emulated on this CPU, eagerly (reslab.bf16)" if emulated else ""),
        "",
        "| model | " + " | ".join(MATRIX) + " |",
        "| --- " * (len(MATRIX) + 1) + "|",
        *(f"| {r['model']} | " + " | ".join(cell(r, k) for k in MATRIX) + " |" for r in rows),
    ]


def bench_table(result: dict):
    from rich.table import Table

    table = Table(title="reslab bench", caption=setup_line(result))
    for c in COLUMNS:
        table.add_column(c.title, justify=c.justify)  # type: ignore[arg-type]
    for row in result["models"]:
        table.add_row(*(c.value(row) for c in COLUMNS))
    return table


def bench_markdown(result: dict) -> str:
    lines = [
        "# reslab bench",
        "",
        setup_line(result),
        "",
        "| " + " | ".join(c.title for c in COLUMNS) + " |",
        "| " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    lines += ["| " + " | ".join(c.value(r) for c in COLUMNS) + " |" for r in result["models"]]
    lines += [
        "",
        "Data per model: "
        + "; ".join(f"{r['model']}: {r['data']}" for r in result["models"])
        + ".",
        "What each column measures: docs/performance.md.",
        "",
    ]
    lines[-2:-2] = matrix_markdown(result)
    memory = [r["memory"] for r in result["models"] if r["memory"]]
    if memory:
        lines[-1:-1] = [
            f"Peak memory at batch {memory[0]['batch']}: {memory[0]['method']}; "
            "in brackets with model.checkpoint_activations=true."
        ]
    return "\n".join(lines)


def write_outputs(result: dict, out: Path) -> list[Path]:
    """``OUT/bench.json`` and ``OUT/bench.md``, each written atomically."""
    from reslab.fileio import write_text

    paths = [out / "bench.json", out / "bench.md"]
    texts = [json.dumps(result, indent=2) + "\n", bench_markdown(result)]
    for path, text in zip(paths, texts, strict=True):
        write_text(path, text)
    return paths
