"""The ``photoqc`` command line: one command per verb.

Exit codes: 0 success; 1 the job could not run (bad input folder or CSV, missing weights);
2 wrong usage (unknown option, bad value); 3 the job ran but some rows are errors and
``--fail-on-error`` was given.
"""

from __future__ import annotations

import logging
import time
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from photoqc import __version__
from photoqc.images import DEFAULT_MAX_PIXELS

app = typer.Typer(
    name="photoqc",
    help=(
        "Decide whether listing photos are technically good enough to publish, and say why.\n\n"
        "Start with `photoqc features PHOTOS/ --out features.parquet` to measure brightness, "
        "contrast, clipping, sharpness, noise, compression and object-versus-background light "
        "for every photo in a folder."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)

console = Console(stderr=True)


class SegmenterChoice(StrEnum):
    auto = "auto"
    maskrcnn = "maskrcnn"
    grabcut = "grabcut"
    none = "none"


class MaskRCNNVariantChoice(StrEnum):
    v1 = "v1"
    v2 = "v2"


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"photoqc {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Log progress details (INFO level)."
    ),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version_callback,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """photoqc: technical quality checks for listing photos."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
        force=True,
    )


def _fail(message: str, hint: str | None = None, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    if hint:
        console.print(f"[dim]hint: {hint}[/]", highlight=False, soft_wrap=True)
    return typer.Exit(code)


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.2f} img/s", style="cyan")


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


@app.command()
def features(
    input: Path = typer.Argument(
        ...,
        help="A folder of photos (searched recursively for .jpg .jpeg .png .webp .tif .tiff "
        ".bmp .gif) or a CSV file with an `image` column (paths relative to the CSV's folder).",
        show_default=False,
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output table: `.parquet` or `.csv`.", show_default=False
    ),
    segmenter: SegmenterChoice = typer.Option(
        SegmenterChoice.auto,
        "--segmenter",
        "-s",
        help="How to find the object: `maskrcnn` (torchvision Mask R-CNN, COCO weights), "
        "`grabcut` (OpenCV, no weights), `auto` (Mask R-CNN if its weights can be had, else "
        "GrabCut with a warning) or `none` (object features left empty).",
    ),
    workers: int = typer.Option(
        1, "--workers", "-w", min=1, help="Processes to run in parallel (each loads its own model)."
    ),
    weights_dir: Path | None = typer.Option(
        None,
        "--weights-dir",
        envvar="PHOTOQC_WEIGHTS_DIR",
        help="Folder holding model weight files, searched before the torch hub cache.",
        file_okay=False,
    ),
    maskrcnn_variant: MaskRCNNVariantChoice = typer.Option(
        MaskRCNNVariantChoice.v1,
        "--maskrcnn-variant",
        help="Mask R-CNN version: `v1` (faster on CPU) or `v2` (more accurate).",
    ),
    analysis_size: int = typer.Option(
        512,
        "--analysis-size",
        min=128,
        help="Short side (pixels) at which Mask R-CNN looks at a photo.",
    ),
    max_pixels: int = typer.Option(
        DEFAULT_MAX_PIXELS,
        "--max-pixels",
        min=1,
        help="Refuse images larger than this many pixels (decompression-bomb guard).",
    ),
    offline: bool = typer.Option(
        False, "--offline", help="Never download weights (same as PHOTOQC_OFFLINE=1)."
    ),
    fail_on_error: bool = typer.Option(
        False, "--fail-on-error", help="Exit with code 3 when any image could not be processed."
    ),
) -> None:
    """Measure quality features of every photo: one row per input file, always.

    Columns: `image, status (ok|error), error, segmenter`, segmentation provenance, then
    every feature (see `photoqc list-features`). Files that cannot be read get
    `status=error`, a message, and empty features; the run goes on.
    """
    from photoqc.pipelines.extract import ExtractConfig, extract_rows, rows_to_frame
    from photoqc.pipelines.inputs import InputError, collect_inputs
    from photoqc.pipelines.tables import check_table_path, write_table
    from photoqc.segmentation import SegmenterConfig, resolve_segmenter
    from photoqc.weights import WeightsNotFoundError

    try:
        check_table_path(out)
        items = collect_inputs(input)
    except (InputError, ValueError) as exc:
        raise _fail(str(exc)) from None

    seg_config = SegmenterConfig(
        kind=segmenter.value,
        variant=maskrcnn_variant.value,
        weights_dir=str(weights_dir) if weights_dir else None,
        analysis_size=analysis_size,
        allow_download=not offline,
    )
    try:
        seg_config, warning = resolve_segmenter(seg_config)
    except WeightsNotFoundError as exc:
        raise _fail(str(exc), "or use --segmenter grabcut, which needs no weights") from None
    if warning:
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)

    config = ExtractConfig(segmenter=seg_config, max_pixels=max_pixels)
    started = time.perf_counter()
    rows: dict[int, dict[str, object]] = {}
    with _progress() as progress:
        task = progress.add_task(f"features ({seg_config.kind})", total=len(items))
        for index, row in extract_rows(items, config, workers=workers):
            rows[index] = row
            progress.advance(task)
    frame = rows_to_frame(rows)
    write_table(frame, out)
    _report_summary(frame, out, time.perf_counter() - started)
    if fail_on_error and (frame["status"] != "ok").any():
        raise typer.Exit(3)


def _report_summary(frame, out: Path, seconds: float) -> None:
    errors = frame[frame["status"] != "ok"]
    console.print(
        f"wrote {len(frame)} rows to [bold]{out}[/] ({len(frame) - len(errors)} ok, "
        f"{len(errors)} error{'s' if len(errors) != 1 else ''}) in {seconds:.1f} s",
        highlight=False,
        soft_wrap=True,
    )
    for _, row in errors.head(10).iterrows():
        console.print(
            f"  [red]error[/] {row['image']}: {row['error']}", highlight=False, soft_wrap=True
        )
    if len(errors) > 10:
        console.print(f"  ... and {len(errors) - 10} more (see the `error` column)")


@app.command("list-features")
def list_features(
    markdown: bool = typer.Option(False, "--markdown", help="Print a Markdown table instead."),
) -> None:
    """List every feature with its description, unit and range."""
    from photoqc.features import FEATURE_GROUPS

    if markdown:
        typer.echo("| feature | group | description |\n|---|---|---|")
        for group in FEATURE_GROUPS:
            for spec in group.specs:
                typer.echo(f"| `{spec.name}` | {group.name} | {spec.description} |")
        return
    table = Table("feature", "group", "description", title="photoqc features")
    for group in FEATURE_GROUPS:
        for spec in group.specs:
            table.add_row(spec.name, group.name, spec.description)
    Console().print(table)


if __name__ == "__main__":  # pragma: no cover
    app()
