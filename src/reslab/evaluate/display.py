"""Rich tables of evaluation, prediction and recalibration results, for people."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def eval_table(record: dict[str, Any]) -> Table:
    p, d, c = record["protocol"], record["data"], record["checkpoint"]
    if p["scales"]:
        views = f"shorter side {', '.join(map(str, p['scales']))}"
    elif p["crop"]:
        views = f"resize {p['resize']}, crop {p['crop']}"
    else:
        views = "whole image at {}x{}".format(*p["input_size"])
    # Foreign weights (a torchvision or akamaster file) record no iteration.
    at = "foreign weights" if c["iteration"] is None else f"iteration {c['iteration']}"
    table = Table(
        title=f"{c['model']['name']} ({at}) on {d['name']} {d['split']}",
        show_header=False,
    )
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("top-1 error", f"{record['top1_err']:.2f} %"),
        ("top-5 error", f"{record['top5_err']:.2f} %"),
        ("loss", f"{record['loss']:.4f}"),
        ("images", f"{record['images']:,}"),
        (
            "protocol",
            f"{p['name']}{' + flips' if p['flip'] else ''}: {views}; "
            f"{p['views_per_image']} views per image",
        ),
        ("normalisation", p["normalization"]["kind"]),
        ("checkpoint", c["path"]),
        ("written", f"{record['out']}/eval.json, confusion.png"),
    ]
    if d["skipped"]:
        rows.append(("skipped", f"{len(d['skipped'])} unreadable images"))
    for row in rows:
        table.add_row(*row)
    return table


def per_class_table(record: dict[str, Any]) -> Table:
    table = Table(title="per-class accuracy")
    table.add_column("class")
    table.add_column("accuracy %", justify="right")
    for name, acc in record["per_class_accuracy"].items():
        table.add_row(name, "-" if acc is None else f"{acc:.2f}")
    return table


def predictions_table(results: list[dict[str, Any]]) -> Table:
    table = Table(title="predictions")
    table.add_column("file")
    table.add_column("rank", justify="right")
    table.add_column("class")
    table.add_column("probability", justify="right")
    for r in results:
        for rank, t in enumerate(r["top"], 1):
            table.add_row(
                r["file"] if rank == 1 else "",
                str(rank),
                t["class"],
                f"{t['probability']:.4f}",
                end_section=rank == len(r["top"]),
            )
    return table


def recalibration_lines(report: dict[str, Any]) -> list[str]:
    b, a = report["before"], report["after"]
    return [
        f"BN statistics recomputed over {report['batches']} batches of {report['batch_size']} "
        f"training images ({'augmented' if report['augment'] else 'un-augmented'})",
        f"test top-1 error: {b['top1_err']:.2f} % before, {a['top1_err']:.2f} % after "
        f"({a['images']} images)",
        f"test loss: {b['loss']:.4f} before, {a['loss']:.4f} after",
        f"wrote {report['out']}",
    ]
