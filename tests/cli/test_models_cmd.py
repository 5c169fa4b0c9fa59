"""``reslab models``: the zoo table and its JSON, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "torchvision", "numpy", "PIL")


@pytest.fixture(autouse=True)
def _cache_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("RESLAB_DATA", str(tmp_path / "data-root"))


@pytest.mark.parametrize(
    "code",
    [
        "import reslab",
        "import reslab.cli, sys; sys.argv = ['reslab', '--help']\ntry: reslab.cli.main()\n"
        "except SystemExit: pass",
    ],
)
def test_import_and_help_do_not_import_torch(code: str) -> None:
    check = f"{code}\nimport sys; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_lazy_names_resolve() -> None:
    import reslab
    from reslab.models import create_model

    assert reslab.create_model is create_model
    assert "list_models" in dir(reslab)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        reslab.nope  # noqa: B018


def test_models_rows_are_cached_by_code_and_reused(tmp_path) -> None:
    from reslab.models.profile import describe, describe_many

    fresh = describe_many(["resnet20", "plain20"], cache_dir=tmp_path)
    assert fresh == [describe("resnet20"), describe("plain20")]
    (cache,) = tmp_path.glob("models-*.json")
    rows = json.loads(cache.read_text())
    rows["resnet20"]["params"] = -1  # a marker: the next call must read the file
    cache.write_text(json.dumps(rows))
    again = describe_many(["resnet20"], cache_dir=tmp_path)
    assert again[0]["params"] == -1
    cache.write_text("{not json")  # damaged: measured again
    assert describe_many(["resnet20"], cache_dir=tmp_path)[0]["params"] == 269_722


def test_models_cache_lives_in_the_data_root(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from reslab.cli.app import cache_root
    from reslab.data import data_root

    assert cache_root() == data_root() / "cache" == tmp_path / "data-root" / "cache"
    monkeypatch.delenv("RESLAB_DATA")
    assert cache_root() == data_root() / "cache"


def test_meta_device_counts_equal_real_ones() -> None:
    from reslab.models import complexity, count_macs, count_params, create_model

    model = create_model("resnet20")
    assert complexity("resnet20").params == count_params(model)
    assert complexity("resnet20").macs == count_macs(model, 32)


def test_models_json_reports_the_golden_figures(cli) -> None:
    code, out, _ = cli("models", "resnet*", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["resnet56"]["params"] == 853_018
    assert rows["resnet56"]["paper_top1_err"] == 6.97
    assert rows["resnet152"]["macs"] == pytest.approx(11.282e9, rel=0.005)
    assert rows["resnet50"]["stride"] == "1x1 (v1)"
    assert "plain20" not in rows


def test_models_table_renders(cli) -> None:
    code, out, _ = cli("models", "plain2*")
    assert code == 0
    assert "plain20" in out and "none (plain)" in out


def test_user_mistake_is_one_line_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "reslab", "models", "resnett*"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "reslab: error: no model matches 'resnett*'; run 'reslab models' for the full list"
    )
