"""reslab.fileio: atomic writes leave the old or the new file, JSON reads name the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reslab.errors import ReslabError
from reslab.fileio import atomic_path, read_json, write_bytes, write_json, write_text


def test_writers_replace_the_file_and_leave_no_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "a.txt"
    write_text(target, "old")
    write_text(target, "new")
    write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert target.read_text() == "new"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]


def test_write_json_ends_with_a_newline_and_round_trips(tmp_path: Path) -> None:
    record = {"error": 7.51, "seeds": [0, 1]}
    path = write_json(tmp_path / "r.json", record)
    assert path.read_text().endswith("}\n")
    assert read_json(path) == record


def test_a_failing_writer_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"v": ')
        raise RuntimeError("killed halfway")
    assert read_json(target) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"status": ', r"not valid JSON \(line 1"),
        ("[1, 2]", "expected a JSON object"),
        (b"\xff\xfe\x00", "not a text file"),
    ],
)
def test_bad_json_is_named(tmp_path: Path, content: str | bytes, message: str) -> None:
    path = tmp_path / "summary.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ReslabError, match=rf"summary\.json: {message}"):
        read_json(path)


def test_a_missing_file_is_an_error_only_when_required(tmp_path: Path) -> None:
    assert read_json(tmp_path / "env.json", required=False) is None
    with pytest.raises(ReslabError, match=r"env\.json: missing"):
        read_json(tmp_path / "env.json")
    assert json.loads(write_json(tmp_path / "x.json", {}).read_text()) == {}
