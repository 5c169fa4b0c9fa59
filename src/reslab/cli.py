"""The ``reslab`` command line: thin wiring from subcommands to the package's rooms.

Heavy modules are imported inside the commands so that ``reslab --help`` stays instant.
A :class:`~reslab.errors.ReslabError` (a user mistake) is printed as one line and exits
with its status (2, or one of the training statuses in docs/training.md); Ctrl-C exits
130 without a traceback; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from reslab.errors import OptionError, ReslabError

app = typer.Typer(
    name="reslab",
    help="Deep Residual Learning (He et al. 2015): models, training, evaluation, reproduction.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},  # subcommands inherit it
)
# Piped or captured output gets wide tables rather than rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, highlight=False)  # progress and errors; stdout stays clean

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


EXIT_INTERRUPTED = 3  # a run stopped by SIGINT/SIGTERM, checkpointed: --resume continues it
EXIT_CTRL_C = 130  # Ctrl-C outside a run's loop (128 + SIGINT, the shell's convention)


def _print_json(obj: object) -> None:
    from reslab.jsonio import dumps  # NaN is not JSON: null, as in eval.json

    sys.stdout.write(dumps(obj, indent=2) + "\n")


def _show_version(value: bool) -> None:
    if value:
        from reslab import __version__

        typer.echo(f"reslab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Deep Residual Learning (He et al. 2015): models, training, evaluation, reproduction."""


def _cache_root() -> Path:
    """``reslab.data.data_root() / "cache"`` without importing the data package (torchvision):
    $RESLAB_DATA, else ~/.cache/reslab."""
    import os

    return Path(os.environ.get("RESLAB_DATA") or "~/.cache/reslab").expanduser() / "cache"


# --- models ----------------------------------------------------------------------------


@app.command("models")
def models_cmd(
    pattern: Annotated[
        str | None, typer.Argument(help="Shell-style glob over model names, e.g. 'resnet*'.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the model zoo with parameters, multiply-adds and the paper's figures."""
    from reslab.analysis.tables import models_table
    from reslab.models import list_models
    from reslab.models.profile import describe_many

    names = list_models(pattern)
    if not names:
        raise ReslabError(f"no model matches {pattern!r}; run 'reslab models' for the full list")
    with err_console.status("counting parameters and multiply-adds (cached after the first call)"):
        rows = describe_many(names, cache_dir=_cache_root())
    if as_json:
        _print_json(rows)
    else:
        console.print(models_table(rows))


# --- data ------------------------------------------------------------------------------

data_app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("inspect")
def data_inspect_cmd(
    path: Annotated[
        str, typer.Argument(help="A dataset: CIFAR archive or folder, image folder, tar, name.")
    ],
    as_json: JsonFlag = False,
    samples: Annotated[
        Path | None, typer.Option(help="Write a contact sheet of samples per class (PNG).")
    ] = None,
    root: Annotated[
        Path | None, typer.Option(help="Data root (default $RESLAB_DATA or ~/.cache/reslab).")
    ] = None,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Skip unreadable images instead of failing.")
    ] = False,
) -> None:
    """Detected format, classes, counts per split and class, image size, channel mean/std."""
    import warnings

    from reslab.data import DataWarning, open_source
    from reslab.data.report import contact_sheet, describe_table

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        source = open_source(path, root=root, skip_bad=skip_bad)
        info = source.describe()
        if samples is not None:
            info["samples"] = str(contact_sheet(source, samples))
    for w in caught:
        typer.echo(f"reslab: warning: {w.message}", err=True)
    if as_json:
        _print_json(info)
        return
    console.print(describe_table(info))
    if samples is not None:
        console.print(f"contact sheet: {samples}", highlight=False)


# --- train -----------------------------------------------------------------------------


@app.command("train")
def train_cmd(
    model: Annotated[
        str | None, typer.Option(help="Model name (see 'reslab models'); default resnet20.")
    ] = None,
    recipe: Annotated[
        str | None, typer.Option(help="Recipe (see 'reslab recipes'; default cifar-paper).")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(help="Dataset path or name (cifar10, cifar100); default cifar10."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory to create.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML file of config overrides.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override one config key: --set optim.lr=0.05 (repeatable)."),
    ] = None,
    epochs: Annotated[
        float | None, typer.Option(help="Schedule length in epochs (milestones scale).")
    ] = None,
    iterations: Annotated[
        int | None, typer.Option(help="Schedule length in iterations (milestones scale).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default 0).")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue the run in this directory exactly.")
    ] = None,
    skip_bad: Annotated[
        bool,
        typer.Option("--skip-bad", help="Skip unreadable images (listed in summary.json)."),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the resolved config and schedule; train nothing."),
    ] = False,
) -> None:
    """Train a model; under torchrun, data-parallel over all processes. Exit status: 0
    finished, 2 a user error, 3 interrupted (resumable), 4 diverged (docs/training.md)."""
    from reslab.train.launch import launch

    with _warnings_as_lines():
        summary = launch(
            model=model, recipe=recipe, data=data, out=out, config_file=config,
            sets=set_ or (), epochs=epochs, iterations=iterations, seed=seed, device=device,
            resume=resume, skip_bad=skip_bad, dry_run=dry_run,
        )  # fmt: skip
    if summary["status"] == "dry-run":
        typer.echo("\n".join(summary["plan"]))
        return
    typer.echo(
        f"{summary['model']}: test top-1 error {summary['test_top1_err']:.2f} % "
        f"(top-5 {summary['test_top5_err']:.2f} %) after {summary['iterations']} iterations"
    )
    typer.echo(f"run directory: {resume or out}")
    if summary.get("status") == "interrupted":
        typer.echo(f"interrupted at iteration {summary['iterations']}; continue with "
                   f"--resume {resume or out}", err=True)  # fmt: skip
        raise typer.Exit(EXIT_INTERRUPTED)


def _warnings_as_lines():
    """Print each ReslabWarning as one ``reslab: warning:`` line when it happens."""
    import contextlib
    import warnings

    from reslab.errors import ReslabWarning

    @contextlib.contextmanager
    def show():
        previous = warnings.showwarning

        def one_line(message, category, *args, **kwargs):
            if issubclass(category, ReslabWarning):
                typer.echo(f"reslab: warning: {message}", err=True)
            else:
                previous(message, category, *args, **kwargs)

        with warnings.catch_warnings():
            warnings.simplefilter("always", ReslabWarning)
            warnings.showwarning = one_line
            yield

    return show()


@app.command("recipes")
def recipes_cmd(
    name: Annotated[
        str | None, typer.Argument(help="Show this recipe's values (default: list them all).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the training recipes, or show one recipe's values."""
    from reslab.train.recipes import describe_recipes, recipe_overrides

    recipes = describe_recipes()
    if name is not None:
        values = recipe_overrides(name)  # an unknown name: error with the closest names
        if as_json:
            _print_json({"name": name, "description": recipes[name], **values})
            return
        import yaml

        typer.echo(f"# {name}: {recipes[name]}")
        typer.echo("# (over the defaults of reslab.train.config; see --dry-run for a run's "
                   "resolved schedule)")  # fmt: skip
        typer.echo(yaml.safe_dump(values, sort_keys=False).rstrip())
        return
    if as_json:
        _print_json(recipes)
        return
    for key, text in recipes.items():
        console.print(f"[bold]{key:22}[/] {text}", highlight=False)


# --- evaluate, predict, export ---------------------------------------------------------


DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
RootOpt = Annotated[
    Path | None, typer.Option(help="Data root (default $RESLAB_DATA or ~/.cache/reslab).")
]
CheckpointArg = Annotated[
    Path,
    typer.Argument(
        help="A checkpoint file, a run directory (its best checkpoint), or foreign weights "
        "(torchvision ImageNet ResNet, akamaster/pytorch_resnet_cifar10)."
    ),
]
NormalizationOpt = Annotated[
    str | None,
    typer.Option(
        help="Input normalisation instead of the recorded one: 'imagenet' (per-channel "
        "mean/std, the default for foreign weights) or MEAN,MEAN,MEAN/STD,STD,STD."
    ),
]


@app.command("eval")
def eval_cmd(
    checkpoint: CheckpointArg,
    data: Annotated[str, typer.Option(help="Dataset path or name; its test split is used.")],
    protocol: Annotated[
        str, typer.Option(help="single, 10crop or multiscale (the last two: ImageNet-style).")
    ] = "single",
    flip: Annotated[
        bool, typer.Option("--flip", help="Average each view with its mirror image.")
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Images per batch.")] = 100,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for eval.json and confusion.png (default: RUN_DIR/eval/"
            "<checkpoint>-<data>-<protocol>[-flip][-subsetN], named by every option)."
        ),
    ] = None,
    subset_per_class: Annotated[
        int | None, typer.Option(help="Evaluate this many test images per class only.")
    ] = None,
    split: Annotated[str | None, typer.Option(help="Split (default test, else val).")] = None,
    per_class: Annotated[
        bool, typer.Option("--per-class", help="Also print the per-class accuracy table.")
    ] = False,
    device: DeviceOpt = "auto",
    workers: Annotated[
        int | None, typer.Option(help="Decoding processes for large images.")
    ] = None,
    root: RootOpt = None,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Skip unreadable images instead of failing.")
    ] = False,
    normalization: NormalizationOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Top-1/top-5 error and loss of a checkpoint under the paper's test protocols."""
    import warnings

    from reslab.checkpoint import describe_checkpoint, resolve_checkpoint
    from reslab.data import DataWarning
    from reslab.evaluate.display import eval_table, per_class_table
    from reslab.evaluate.evaluator import evaluate_checkpoint

    path = resolve_checkpoint(checkpoint)
    typer.echo(f"evaluating {describe_checkpoint(path)}: {path}", err=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        with err_console.status(f"evaluating {checkpoint} ({protocol})"):
            record = evaluate_checkpoint(
                checkpoint, data, protocol=protocol, flip=flip, batch_size=batch_size, out=out,
                device=device, workers=workers, root=root, skip_bad=skip_bad, split=split,
                subset_per_class=subset_per_class, normalization=normalization,
            )  # fmt: skip
    for w in caught:
        typer.echo(f"reslab: warning: {w.message}", err=True)
    if as_json:
        _print_json(record)
        return
    console.print(eval_table(record))
    if per_class:
        console.print(per_class_table(record))


@app.command("predict")
def predict_cmd(
    checkpoint: CheckpointArg,
    inputs: Annotated[list[Path], typer.Argument(help="Image files and folders of images.")],
    topk: Annotated[int, typer.Option(help="Classes to show per image.")] = 5,
    batch_size: Annotated[int, typer.Option(help="Images per batch.")] = 64,
    device: DeviceOpt = "auto",
    normalization: NormalizationOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Class probabilities of images; unreadable files are named on stderr (exit 1)."""
    from reslab.evaluate.display import predictions_table
    from reslab.evaluate.predict import predict

    results, failures = predict(checkpoint, inputs, topk=topk, batch_size=batch_size,
                                device=device, normalization=normalization)  # fmt: skip
    if as_json:
        _print_json(results)
    elif results:
        console.print(predictions_table(results))
    for failure in failures:
        typer.echo(f"reslab: error: {failure.error}", err=True)
    if failures:
        typer.echo(f"reslab: {len(failures)} of {len(results) + len(failures)} inputs could "
                   "not be predicted", err=True)  # fmt: skip
        raise typer.Exit(1)


@app.command("recalibrate-bn")
def recalibrate_bn_cmd(
    checkpoint: CheckpointArg,
    data: Annotated[str, typer.Option(help="The dataset the checkpoint was trained on.")],
    batches: Annotated[int, typer.Option(help="Training batches to average over.")],
    batch_size: Annotated[int, typer.Option(help="Images per training batch.")] = 128,
    out: Annotated[
        Path | None, typer.Option(help="New checkpoint (default <name>-bnrecal.pt beside it).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --out file.")
    ] = False,
    augment: Annotated[
        bool, typer.Option("--augment", help="Use the training augmentation (default: none).")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the batches' order.")] = 0,
    eval_batch_size: Annotated[int, typer.Option(help="Images per test batch.")] = 100,
    test_subset_per_class: Annotated[
        int | None, typer.Option(help="Measure the test error on this many images per class.")
    ] = None,
    device: DeviceOpt = "auto",
    workers: Annotated[
        int | None, typer.Option(help="Decoding processes for large images.")
    ] = None,
    root: RootOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Recompute BatchNorm statistics as a true average over training batches."""
    from reslab.evaluate.display import recalibration_lines
    from reslab.evaluate.recalibrate import recalibrate

    with err_console.status(f"recalibrating BN of {checkpoint} over {batches} batches"):
        report = recalibrate(
            checkpoint, data, batches=batches, batch_size=batch_size, out=out,
            overwrite=overwrite, augment=augment, seed=seed, device=device,
            eval_batch_size=eval_batch_size, test_subset_per_class=test_subset_per_class,
            workers=workers, root=root,
        )  # fmt: skip
    if as_json:
        _print_json(report)
        return
    for line in recalibration_lines(report):
        console.print(line, highlight=False)


@app.command("export")
def export_cmd(
    checkpoint: CheckpointArg,
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help="onnx, torchscript, exported-program or torchvision."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write; FILE.json beside it.")],
    fold_bn: Annotated[
        bool, typer.Option("--fold-bn", help="Fold BatchNorm into the convolutions (verified).")
    ] = False,
    opset: Annotated[
        int | None, typer.Option("--opset", help="ONNX opset (default: the exporter's).")
    ] = None,
    atol: Annotated[
        float | None,
        typer.Option(
            "--atol",
            help="Largest |logit difference| allowed (default: 10x the model's float32 "
            "round-off, at least 1e-4).",
        ),
    ] = None,
    normalization: NormalizationOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Export a checkpoint, verified against PyTorch, with a JSON sidecar of its metadata."""
    from reslab.evaluate.export import export_checkpoint, summary_lines

    with err_console.status(f"exporting {checkpoint} as {fmt} and verifying it"):
        sidecar = export_checkpoint(checkpoint, out, fmt, fold_bn=fold_bn, opset=opset,
                                    atol=atol, normalization=normalization)  # fmt: skip
    if as_json:
        _print_json(sidecar)
    else:
        for line in summary_lines(sidecar, out):
            console.print(line, highlight=False)


# --- analysis: plot, report, reproduce --------------------------------------------------


@app.command("plot")
def plot_cmd(
    runs: Annotated[
        list[Path], typer.Argument(help="Run directories, or folders holding run directories.")
    ],
    out: Annotated[
        Path | None, typer.Option(help="PNG to write (default RUN/curves.png for one run).")
    ] = None,
    x: Annotated[str, typer.Option("--x", help="x axis: iterations or epochs.")] = "iterations",
) -> None:
    """Plot training (dashed) and test (bold) error curves in the paper's style."""
    from reslab.analysis.plots import plot_curves
    from reslab.analysis.runs import find_runs

    found = [run for path in runs for run in find_runs(path)]
    if not found:
        raise ReslabError(f"no run directories (with config.yaml) in {', '.join(map(str, runs))}")
    if out is None:
        if len(found) > 1:
            raise ReslabError(f"{len(found)} runs given: choose the image with --out FILE.png")
        out = found[0].path / "curves.png"
    console.print(f"wrote {plot_curves(found, out, x=x)}")  # type: ignore[arg-type]


@app.command("report")
def report_cmd(
    root: Annotated[Path, typer.Argument(help="A folder of run directories (any depth).")],
    out: Annotated[
        Path | None, typer.Option(help="Markdown file to write (default DIR/report.md).")
    ] = None,
) -> None:
    """Write a Markdown report with figures: the paper's claims checked, tables, every run."""
    from reslab.analysis.report import write_report

    with err_console.status("reading runs and drawing figures"):
        path = write_report(root, out)
    console.print(f"wrote {path}")


@app.command("compare")
def compare_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Run directories, or folders of them.")],
    by: Annotated[
        list[str], typer.Option(help="Config key to group by, e.g. run.precision (repeatable).")
    ],
    out: Annotated[Path | None, typer.Option(help="Markdown file to write.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Final test errors of finished runs, grouped by configuration values (mean ± std)."""
    from reslab.analysis.compare import compare_command, compare_markdown, compare_runs
    from reslab.fileio import write_text

    rows = compare_runs(paths, by)
    if as_json:
        _print_json(rows)
        return
    text = compare_markdown(rows, by, compare_command(paths, by))
    if out is None:
        console.print(text, markup=False, highlight=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, text)
    console.print(f"wrote {out}")


# --- reproduce -------------------------------------------------------------------------


@app.command("reproduce")
def reproduce_cmd(
    experiment: Annotated[
        str,
        typer.Argument(
            help="cifar10-table6, cifar10-fig6, cifar10-fig7, shortcuts, imagenet-table1."
        ),
    ],
    budget: Annotated[
        str | None,
        typer.Option(
            help="paper, medium, short or smoke: required to train (--dry-run and --no-train "
            "default to short)."
        ),
    ] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per model (0..N-1).")] = 1,
    data: Annotated[str, typer.Option(help="CIFAR-10 path or name.")] = "cifar10",
    out: Annotated[Path, typer.Option(help="Folder of runs and the report.")] = Path(
        "runs/reproduce"
    ),
    with_1202: Annotated[
        bool, typer.Option("--with-1202", help="Also train ResNet-1202 (table6, fig6).")
    ] = False,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the runs and their state; train nothing.")
    ] = False,
    no_train: Annotated[
        bool,
        typer.Option("--no-train", help="Train nothing: responses and report from finished runs."),
    ] = False,
) -> None:
    """Train an experiment of the paper (finished runs skipped, interrupted ones resumed)
    and write the report on every run under --out."""
    from reslab.reproduce import run_experiment, run_status

    budget = _reproduce_budget(budget, trains=not (dry_run or no_train or
                                                   experiment == "imagenet-table1"))  # fmt: skip
    sets = (f"run.device={device}",) if device else ()
    result = run_experiment(
        experiment, budget=budget, seeds=seeds, data=data, out=out, with_1202=with_1202,
        sets=sets, dry_run=dry_run, train=not no_train,
        echo=lambda line: console.print(line, highlight=False),
    )  # fmt: skip
    if isinstance(result, Path):
        console.print(f"wrote {result}")
        return
    for run in result:
        console.print(f"{run_status(run.run_dir):9} {run.command}", highlight=False, soft_wrap=True)


def _reproduce_budget(budget: str | None, *, trains: bool) -> str:
    """Hours of CPU work never start by default: training needs an explicit --budget."""
    if budget is not None or not trains:
        return budget or "short"
    from reslab.reproduce.experiments import BUDGETS

    choices = "; ".join(f"{b.name}: {b.description}" for b in BUDGETS.values())
    raise ReslabError(
        f"--budget is required to train ({choices}); see the runs and their state first "
        "with --dry-run"
    )


# --- bench -----------------------------------------------------------------------------


@app.command("bench")
def bench_cmd(
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            help="Model to measure (repeatable; default resnet20, "
            "resnet56, resnet110 at 32x32 and resnet50 at 224x224).",
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    batch: Annotated[int, typer.Option(help="Images per training step.")] = 128,
    steps: Annotated[int, typer.Option(help="Timed steps per measurement.")] = 20,
    warmup: Annotated[int, typer.Option(help="Untimed steps before each measurement.")] = 5,
    data: Annotated[
        str | None,
        typer.Option(help="Real small images for the 32x32 models (else synthetic uint8)."),
    ] = None,
    root: Annotated[Path | None, typer.Option(help="Data root (cache) for --data.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Workers of the torchvision DataLoader (default min(8, CPUs))."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="torch intra-op threads (default: torch's choice).")
    ] = None,
    memory: Annotated[
        bool,
        typer.Option(
            "--memory", help="Also peak memory, with and without activation checkpointing."
        ),
    ] = False,
    memory_batch: Annotated[
        int | None, typer.Option(help="Batch of the memory measurement (default --batch).")
    ] = None,
    precision: Annotated[
        str, typer.Option(help="The reslab column's precision: auto (the trainer's), fp32, bf16.")
    ] = "auto",
    compile_: Annotated[
        str,
        typer.Option("--compile", help="The reslab column's torch.compile: auto, on or off."),
    ] = "auto",
    matrix: Annotated[
        bool, typer.Option("--matrix", help="Also train steps under fp32/bf16 x eager/compiled.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Folder to write bench.json and bench.md into.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Training and inference images/s: reslab against the torchvision pipeline."""
    from reslab import bench

    compiled = {"auto": "auto", "on": True, "off": False}
    if compile_ not in compiled:
        raise OptionError(f"--compile must be auto, on or off; got {compile_!r}")
    if precision not in ("auto", "fp32", "bf16"):
        raise OptionError(f"--precision must be auto, fp32 or bf16; got {precision!r}")
    opts = bench.BenchOptions(
        models=tuple(model or bench.DEFAULT_MODELS), device=device, batch=batch, steps=steps,
        warmup=warmup, data=data, root=str(root) if root else None, workers=workers,
        threads=threads, memory=memory, memory_batch=memory_batch, precision=precision,
        compile=compiled[compile_], matrix=matrix,
    )  # fmt: skip
    with err_console.status("benchmarking") as status:
        result = bench.run_bench(opts, note=lambda text: status.update(text))
    if as_json:
        _print_json(result)
    else:
        console.print(bench.bench_table(result))
        for line in bench.matrix_markdown(result):
            console.print(line, markup=False)
    for path in bench.write_outputs(result, out) if out is not None else ():
        err_console.print(f"wrote {path}")


# --- entry point -----------------------------------------------------------------------


# Metavars where neither the parameter's name in capitals nor N (numbers) is the best word.
METAVARS = {"set_": "KEY=VALUE", "out": "PATH", "config": "FILE.yaml", "resume": "RUN_DIR",
            "root": "DIR", "samples": "FILE.png", "x": "AXIS", "fmt": "FORMAT",
            "inputs": "IMAGE_OR_DIR", "runs": "RUN_DIR", "checkpoint": "CHECKPOINT"}  # fmt: skip


def command():
    """The click command of ``app``, with readable metavars (``--out PATH``, ``--seed N``)
    instead of typer's type names (``<path>``, ``<int>``)."""
    root = typer.main.get_command(app)
    stack = [root]
    while stack:
        cmd = stack.pop()
        stack.extend(getattr(cmd, "commands", {}).values())
        for param in cmd.params:
            if param.metavar is not None or getattr(param, "is_flag", False):
                continue
            number = param.type_descriptor.annotation in (int, float)
            param.metavar = METAVARS.get(param.name) or ("N" if number else param.name.upper())
            if param.param_type_name == "argument":
                # typer prints an argument's type after its name ("RUN_DIR <list[Path]>"):
                # the help line already says what it takes.
                param.display_type_rich = lambda ctx: None
    return root


def main(argv: list[str] | None = None) -> None:
    try:
        command()(args=argv, prog_name="reslab")
    except ReslabError as err:
        typer.echo(f"reslab: error: {err}", err=True)
        raise SystemExit(err.exit_code) from None
    except KeyboardInterrupt:  # before or after a run's loop, which handles its own
        typer.echo("reslab: interrupted", err=True)
        raise SystemExit(EXIT_CTRL_C) from None
