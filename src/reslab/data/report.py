"""``reslab data inspect``: a table of what a source holds, and a contact sheet of samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Group
from rich.table import Table

from reslab.data.decode import BadImage, read_image
from reslab.data.sources import Source
from reslab.data.transforms import centre_crop
from reslab.fileio import atomic_path

THUMB = 64  # side of a large image's thumbnail on the contact sheet


# Pillow's mode letters (kept in the JSON) in words for the table.
MODE_NAMES = {"L": "grayscale (1 channel)", "RGB": "RGB (3 channels)"}


def describe_table(info: dict[str, Any]) -> Group:
    """The facts of :meth:`Source.describe` for people: a summary and counts per class."""
    head = Table.grid(padding=(0, 2))
    image = info["image"]
    if image["size"]:
        size = "x".join(map(str, image["size"][::-1]))
    else:
        (h0, w0), (h1, w1) = image["min_size"], image["max_size"]
        size = f"{w0}x{h0} to {w1}x{h1} (of {image['probed']} probed)"
    mean = ", ".join(f"{v:.4f}" for v in info["train_channel_mean"])
    std = ", ".join(f"{v:.4f}" for v in info["train_channel_std"])
    if info["small"]:
        path = "small images: in memory, on the device"
    else:
        path = "large images: streamed from files"
    rows = [
        ("source", info["source"]),
        ("format", info["format"]),
        ("path", path),
        ("image", f"{size}, {MODE_NAMES.get(image['mode'], image['mode'])}"),
        ("splits", ", ".join(f"{s} {v['images']:,}" for s, v in info["splits"].items())),
        ("classes", str(info["num_classes"])),
        ("train mean", mean),
        ("train std", f"{std}  ({info['stats_from']})"),
    ]
    if info["skipped"]:
        rows.append(("skipped", f"{len(info['skipped'])} unreadable images"))
    for key, value in rows:
        head.add_row(f"[bold]{key}[/]", value)
    counts = Table(title="images per class", title_justify="left")
    counts.add_column("class")
    for split in info["splits"]:
        counts.add_column(split, justify="right")
    for cls in info["classes"]:
        counts.add_row(cls, *(f"{v['per_class'][cls]:,}" for v in info["splits"].values()))
    return Group(head, "", counts)


def contact_sheet(
    source: Source, out: str | Path, *, per_class: int = 8, max_classes: int = 20
) -> Path:
    """A PNG grid of the first ``per_class`` training images of each class (one row per
    class, the first ``max_classes`` classes), labelled with the class names."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    classes = source.classes[:max_classes]
    cells = _cells(source, len(classes), per_class)  # per class: uint8 (k, h, w, 3)
    h, w = cells[0].shape[1:3]
    pad = max(1, h // 16)
    sheet = np.full((len(cells) * (h + pad), per_class * (w + pad), 3), 255, np.uint8)
    for r, images in enumerate(cells):
        for i, img in enumerate(images.numpy()):
            sheet[r * (h + pad) : r * (h + pad) + h, i * (w + pad) : i * (w + pad) + w] = img
    scale, dpi, margin = max(1, 64 // h), 100, 1.6  # small images shown at least 64 px high
    width, height = sheet.shape[1] * scale / dpi + margin, sheet.shape[0] * scale / dpi + 0.5
    fig = plt.figure(figsize=(width, height), dpi=dpi)
    ax = fig.add_axes((1.5 / width, 0.1 / height, 1 - margin / width, 1 - 0.5 / height))
    ax.imshow(sheet, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([r * (h + pad) + h / 2 for r in range(len(cells))], classes)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    more = ""
    if len(source.classes) > len(classes):
        more = f" (first {len(classes)} of {len(source.classes)} classes)"
    ax.set_title(f"{source.name}: training images{more}", fontsize=9, loc="left")
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return out


def _cells(source: Source, k: int, n: int) -> list[torch.Tensor]:
    """Up to ``n`` training images of each of the first ``k`` classes, uint8 (n, h, w, 3)."""
    if source.small:
        train = source.load("train")
        cells = [train.images[(train.labels == c).nonzero().squeeze(1)[:n]] for c in range(k)]
        return [c.expand(-1, -1, -1, 3) if c.shape[3] == 1 else c for c in cells]
    thumb = centre_crop(THUMB, THUMB)
    picked: list[list[torch.Tensor]] = [[] for _ in range(k)]
    for path, label in source.samples("train"):
        if label >= k or len(picked[label]) == n:
            continue
        try:
            picked[label].append(thumb(read_image(path, 3)).permute(1, 2, 0))
        except BadImage:
            continue  # the sheet shows what can be shown; training reports bad files
    return [
        torch.stack(p) if p else torch.zeros(0, THUMB, THUMB, 3, dtype=torch.uint8) for p in picked
    ]
