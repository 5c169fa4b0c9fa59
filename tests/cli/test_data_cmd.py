"""``reslab data inspect``: JSON, table, contact sheet, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """train/ 3 and val/ 1 grayscale 8x8 PNGs in classes "no" and "yes"."""
    for split, n in (("train", 3), ("val", 1)):
        for k, cls in enumerate(("no", "yes")):
            (tmp_path / "d" / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((8, 8), 100 * k, np.uint8)).save(
                    tmp_path / "d" / split / cls / f"{i}.png"
                )
    return tmp_path / "d"


def test_inspect_json(cli, folder: Path, tmp_path: Path) -> None:
    code, out, err = cli("data", "inspect", str(folder), "--json", "--root", str(tmp_path / "r"))
    assert code == 0, err
    info = json.loads(out)
    assert info["format"] == "image-folder" and info["classes"] == ["no", "yes"]
    assert info["splits"]["val"] == {"images": 2, "per_class": {"no": 1, "yes": 1}}
    assert info["test_split"] == "val" and info["image"] == {"size": [8, 8], "mode": "L"}
    assert info["train_channel_mean"] == pytest.approx([50 / 255])
    assert info["train_channel_std"] == pytest.approx([50 / 255])


def test_inspect_table_and_contact_sheet(cli, folder: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.png"
    code, out, _ = cli(
        "data", "inspect", str(folder), "--samples", str(sheet), "--root", str(tmp_path / "r")
    )
    assert code == 0
    assert "image-folder" in out and "8x8, grayscale (1 channel)" in out
    assert "images per class" in out
    assert f"contact sheet: {sheet}" in out
    with Image.open(sheet) as img:
        assert img.format == "PNG" and img.width > 100


def test_unreadable_images_fail_unless_skipped(cli, folder: Path, tmp_path: Path) -> None:
    (folder / "train/yes/1.png").write_bytes(b"junk")
    root = str(tmp_path / "r")
    code, out, err = cli("data", "inspect", str(folder), "--json", "--root", root)
    assert code == 2 and out == ""
    assert err.startswith("reslab: error: ") and err.count("\n") == 1
    assert "train/yes/1.png: not a readable image" in err and "--skip-bad" in err
    code, out, err = cli("data", "inspect", str(folder), "--json", "--root", root, "--skip-bad")
    assert code == 0
    assert err == (
        f"reslab: warning: skipped 1 unreadable image of {folder} (first: {folder}/train/yes/"
        "1.png: not a readable image (cannot identify image file))\n"
    )
    info = json.loads(out)
    assert info["skipped"] == [str(folder / "train/yes/1.png")]
    assert info["splits"]["train"]["per_class"] == {"no": 3, "yes": 2}


def test_a_path_in_no_known_format_is_one_line(cli, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    code, _, err = cli("data", "inspect", str(tmp_path / "notes.txt"), "--root", str(tmp_path))
    assert code == 2 and err.count("\n") == 1
    assert "notes.txt: a file in no known format; expected a CIFAR-10/100 python" in err
