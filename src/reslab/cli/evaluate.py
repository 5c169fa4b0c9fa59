"""``reslab eval``, ``predict``, ``recalibrate-bn`` and ``export``: using a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reslab.cli.app import (
    CheckpointArg,
    DeviceOpt,
    JsonFlag,
    NormalizationOpt,
    RootOpt,
    SkipBadOpt,
    app,
    console,
    err_console,
    print_json,
)


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
    skip_bad: SkipBadOpt = False,
    normalization: NormalizationOpt = None,
    precision: Annotated[
        str,
        typer.Option(
            help="auto (the precision the checkpoint trained in, as the trainer evaluated "
            "it), fp32, bf16 or fp16."
        ),
    ] = "auto",
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
                checkpoint,
                data,
                protocol=protocol,
                flip=flip,
                batch_size=batch_size,
                out=out,
                device=device,
                workers=workers,
                root=root,
                skip_bad=skip_bad,
                split=split,
                subset_per_class=subset_per_class,
                normalization=normalization,
                precision=precision,
            )
    for w in caught:
        typer.echo(f"reslab: warning: {w.message}", err=True)
    if as_json:
        print_json(record)
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

    results, failures = predict(
        checkpoint,
        inputs,
        topk=topk,
        batch_size=batch_size,
        device=device,
        normalization=normalization,
    )
    if as_json:
        print_json(results)
    elif results:
        console.print(predictions_table(results))
    for failure in failures:
        typer.echo(f"reslab: error: {failure.error}", err=True)
    if failures:
        typer.echo(
            f"reslab: {len(failures)} of {len(results) + len(failures)} inputs could "
            "not be predicted",
            err=True,
        )
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
            checkpoint,
            data,
            batches=batches,
            batch_size=batch_size,
            out=out,
            overwrite=overwrite,
            augment=augment,
            seed=seed,
            device=device,
            eval_batch_size=eval_batch_size,
            test_subset_per_class=test_subset_per_class,
            workers=workers,
            root=root,
        )
    if as_json:
        print_json(report)
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
        sidecar = export_checkpoint(
            checkpoint,
            out,
            fmt,
            fold_bn=fold_bn,
            opset=opset,
            atol=atol,
            normalization=normalization,
        )
    if as_json:
        print_json(sidecar)
    else:
        for line in summary_lines(sidecar, out):
            console.print(line, highlight=False)
