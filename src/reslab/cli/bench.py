"""``reslab bench``: training and inference speed against the torchvision pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reslab.cli.app import (
    JsonFlag,
    app,
    console,
    err_console,
    print_json,
)
from reslab.errors import OptionError


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
        models=tuple(model or bench.DEFAULT_MODELS),
        device=device,
        batch=batch,
        steps=steps,
        warmup=warmup,
        data=data,
        root=str(root) if root else None,
        workers=workers,
        threads=threads,
        memory=memory,
        memory_batch=memory_batch,
        precision=precision,
        compile=compiled[compile_],
        matrix=matrix,
    )
    with err_console.status("benchmarking") as status:
        result = bench.run_bench(opts, note=lambda text: status.update(text))
    if as_json:
        print_json(result)
    else:
        console.print(bench.bench_table(result))
        for line in bench.matrix_markdown(result):
            console.print(line, markup=False)
    for path in bench.write_outputs(result, out) if out is not None else ():
        err_console.print(f"wrote {path}")
