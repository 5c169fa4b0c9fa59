"""``reslab compare RUN_OR_DIR... --by KEY``: finished runs grouped by the values of
configuration keys, their final test errors side by side (mean ± std over the runs of a
group, usually seeds). Used for studies of one setting, such as precision or padding.

The runs must be comparable: their configurations may differ only in the ``--by`` keys, the
seed and keys that do not change the trained function (:data:`FREE`); anything else is an
error naming the key, so a table never mixes, say, two schedule lengths. A key that one
run's config.yaml lacks (the run predates it) is not compared. Each group that shares seeds
with the first adds its differences from the first, paired by seed (same data order and
crops)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from reslab.analysis.claims import fmt_values
from reslab.analysis.markdown import fmt_duration
from reslab.analysis.report import data_label
from reslab.analysis.runs import Run, find_runs
from reslab.errors import OptionError, ReslabError

UNSET = "-"  # a key the run's config.yaml lacks: the run predates it
# Keys free to differ between compared runs: where the data lives, how a run is logged and
# checkpointed, which device ran it, and torch.compile (the same function up to float
# round-off; give --by model.compile to see it).
FREE = frozenset(
    {
        "run.seed",
        "data.root",
        "data.source",
        "data.workers",
        "data.eval_batch_size",
        "run.log_every",
        "run.checkpoint_every",
        "run.tensorboard",
        "run.device",
        "model.compile",
    }
)


def config_value(run: Run, key: str) -> Any:
    """The value of dotted ``key`` in the run's config.yaml, or :data:`UNSET`;
    ``run.precision`` as the arithmetic the run trained in (:attr:`Run.precision`)."""
    if key == "run.precision":
        return run.precision
    value: Any = run.config
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return UNSET
        value = value[part]
    return value


def check_comparable(runs: Sequence[Run], by: Sequence[str]) -> None:
    """A :class:`ReslabError` naming the first configuration key (or summary field) in
    which two runs differ, other than ``by`` and :data:`FREE`."""
    first, ref = runs[0], _settings(runs[0])
    for run in runs[1:]:
        for key, value in _settings(run).items():
            if key not in FREE and key not in by and key in ref and ref[key] != value:
                raise ReslabError(
                    f"{run.path} and {first.path} differ in {key} ({value!r} vs "
                    f"{ref[key]!r}); compare runs that differ only in the --by keys "
                    f"({', '.join(by)}) and the seed, or add --by {key}"
                )
    for field, section in (("iterations", "schedule."), ("data", "data.")):
        if any(key.startswith(section) for key in by):
            continue  # compared on purpose
        values = {_described(r, field) for r in runs if r.finished}
        if len(values) > 1:
            raise ReslabError(
                f"the finished runs differ in their summary's {field}: {'; '.join(sorted(values))}"
            )


def paired(first: dict[str, Any], other: dict[str, Any]) -> list[tuple[int, float]]:
    """(seed, ``other``'s error - ``first``'s) for the seeds both rows ran."""
    a, b = ({r["seed"]: r["test_top1_err"] for r in row["runs"]} for row in (first, other))
    return [(s, b[s] - a[s]) for s in sorted(a.keys() & b.keys())]


def compare_runs(paths: Sequence[Path], by: Sequence[str]) -> list[dict[str, Any]]:
    """One row per distinct value of ``by`` over the finished runs found under ``paths``
    (rows in the order their first run's path was given): the values, the runs' paths,
    test errors and wall times."""
    if not by:
        raise OptionError("give at least one --by KEY (a config key such as run.precision)")
    runs = [r for p in paths for r in sorted(find_runs(p), key=lambda r: (r.seed, str(r.path)))]
    if not runs:
        raise ReslabError(f"no run directories under {', '.join(map(str, paths))}")
    unknown = [k for k in by if all(config_value(r, k) == UNSET for r in runs)]
    if unknown:
        raise OptionError(f"no run's config.yaml has {', '.join(unknown)}")
    check_comparable(runs, by)
    rows: dict[tuple, dict[str, Any]] = {}
    for run in runs:  # groups in the order of the paths given, runs by seed within one
        if not run.finished or run.test_err is None:
            continue
        values = tuple(config_value(run, k) for k in by)
        row = rows.setdefault(values, {"values": dict(zip(by, values, strict=True)), "runs": []})
        row["runs"].append(
            {
                "path": str(run.path),
                "seed": run.seed,
                "model": run.label,
                "test_top1_err": run.test_err,
                "data": data_label(run),
                "wall_s": (run.summary or {}).get("wall_s"),
            }
        )
    for row in rows.values():
        row["runs"].sort(key=lambda r: (r["seed"], r["path"]))
    return list(rows.values())


def compare_markdown(rows: Sequence[dict[str, Any]], by: Sequence[str], command: str) -> str:
    lines = [
        f"Generated by `{command}`. Test error: the final weights' top-1 error (%) on "
        "the test split; mean ± std (sample std) over the runs of a row.",
        "",
        "| " + " | ".join(f"`{k}`" for k in by) + " | model | data | runs | test error "
        "(%) | each run (%) | wall time per run |",
        "|" + "---|" * (len(by) + 6),
    ]
    for row in rows:
        runs = row["runs"]
        errs = [r["test_top1_err"] for r in runs]
        walls = [fmt_duration(r["wall_s"]) for r in runs]
        cells = [
            *(f"`{_fmt(row['values'][k])}`" for k in by),
            " / ".join(dict.fromkeys(r["model"] for r in runs)),
            " / ".join(dict.fromkeys(r["data"] for r in runs)),
            str(len(runs)),
            fmt_values(errs, count=False),
            ", ".join(f"{e:.2f} (seed {r['seed']})" for e, r in zip(errs, runs, strict=True)),
            ", ".join(walls),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if any(UNSET in row["values"].values() for row in rows):
        lines += [
            "",
            f"`{UNSET}`: the run's config.yaml lacks the key (the run predates it, "
            "so the default of its time applies).",
        ]
    for other in rows[1:]:
        pairs = paired(rows[0], other)
        if not pairs:
            continue
        diffs = ", ".join(f"seed {s}: {d:+.2f}" for s, d in pairs)
        mean = sum(d for _, d in pairs) / len(pairs)
        lines += [
            "",
            f"Paired by seed (same data order and crops), `{_label(other)}` minus "
            f"`{_label(rows[0])}`: {diffs} points; mean {mean:+.2f}.",
        ]
    lines += ["", "Runs:", "", *(f"- `{r['path']}`" for row in rows for r in row["runs"])]
    return "\n".join(lines) + "\n"


def _label(row: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in row["values"].items())


def _fmt(value: Any) -> str:
    """As YAML writes it: true, null, 0.1, black."""
    return value if isinstance(value, str) else json.dumps(value)


def _settings(run: Run) -> dict[str, Any]:
    """The run's configuration as dotted keys, precision made concrete."""
    settings = dict(_flatten(run.config))
    settings["run.precision"] = run.precision
    return settings


def _flatten(d: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in d.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _described(run: Run, field: str) -> str:
    """A summary field as text; for ``data``, the loaders' description less what may differ
    (the pad value and colour flags, recorded since issue 17, and the path's spelling)."""
    value = (run.summary or {}).get(field)
    if isinstance(value, Mapping):
        value = {k: v for k, v in value.items() if k not in ("pad_value", "color_pca", "source")}
    return str(value)


def compare_command(paths: Sequence[Path], by: Sequence[str]) -> str:
    return shlex.join(
        ["reslab", "compare", *map(str, paths), *(a for k in by for a in ("--by", k))]
    )
