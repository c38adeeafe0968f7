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
from rich import box
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
from photoqc.pipelines.labels import DEFAULT_MOS_SCALE

app = typer.Typer(
    name="photoqc",
    help=(
        "Decide whether listing photos are technically good enough to publish, and say why.\n\n"
        "Try it: `photoqc demo` (offline, about 2 minutes). Then: `photoqc train LABELS.csv "
        "--out model/`, `photoqc score PHOTOS/ --model model/ --out scores.csv`, `photoqc explain "
        "PHOTO --model model/`. `photoqc features PHOTOS/ --out features.parquet` measures "
        "brightness, contrast, clipping, sharpness, noise, compression and object-versus-"
        "background light without a model."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)

console = Console(stderr=True)

# Options several commands share: one definition, one help text.
WEIGHTS_DIR_OPTION = typer.Option(
    None,
    "--weights-dir",
    envvar="PHOTOQC_WEIGHTS_DIR",
    help="Folder holding model weight files, searched before the torch hub cache.",
    file_okay=False,
)
OFFLINE_OPTION = typer.Option(
    False, "--offline", help="Never download weights (same as PHOTOQC_OFFLINE=1)."
)
NIMA_WEIGHTS_OPTION = typer.Option(
    None,
    "--nima-weights",
    help="A NIMA weights file (.safetensors from `photoqc nima import` or `nima train`); "
    "repeat for several models. Default: every nima_*.safetensors in the weights folder; "
    "without any, the nima_* features are empty.",
    dir_okay=False,
)


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
        unit = task.fields.get("unit", "img")
        return Text("" if speed is None else f"{speed:.2f} {unit}/s", style="cyan")


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
    weights_dir: Path | None = WEIGHTS_DIR_OPTION,
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
    nima_weights: list[Path] | None = NIMA_WEIGHTS_OPTION,
    batch_size: int = typer.Option(
        16, "--batch-size", min=1, help="Images per batch (NIMA runs per batch)."
    ),
    offline: bool = OFFLINE_OPTION,
    fail_on_error: bool = typer.Option(
        False, "--fail-on-error", help="Exit with code 3 when any image could not be processed."
    ),
) -> None:
    """Measure quality features of every photo: one row per input file, always.

    Columns: `image, status (ok|error), error, segmenter`, segmentation provenance, then
    every feature (see `photoqc list-features`). Files that cannot be read get
    `status=error`, a message, and empty features; the run goes on.
    """
    from photoqc.pipelines.extract import extract_rows, rows_to_frame
    from photoqc.pipelines.inputs import InputError, collect_inputs
    from photoqc.pipelines.tables import check_table_path, write_table

    try:
        check_table_path(out)
        items = collect_inputs(input)
    except (InputError, ValueError) as exc:
        raise _fail(str(exc)) from None
    config = _extract_config(
        segmenter=segmenter.value,
        variant=maskrcnn_variant.value,
        weights_dir=weights_dir,
        analysis_size=analysis_size,
        offline=offline,
        nima_weights=nima_weights or [],
        max_pixels=max_pixels,
        batch_size=batch_size,
    )
    started = time.perf_counter()
    rows: dict[int, dict[str, object]] = {}
    with _progress() as progress:
        task = progress.add_task(f"features ({config.segmenter.kind})", total=len(items))
        for index, row in extract_rows(items, config, workers=workers):
            rows[index] = row
            progress.advance(task)
    frame = rows_to_frame(rows, config)
    write_table(frame, out)
    _report_summary(frame, out, time.perf_counter() - started)
    if fail_on_error and (frame["status"] != "ok").any():
        raise typer.Exit(3)


def _extract_config(
    *,
    segmenter: str,
    variant: str,
    weights_dir: Path | None,
    analysis_size: int,
    offline: bool,
    nima_weights: list[Path],
    max_pixels: int,
    batch_size: int,
):
    """Resolve segmenter and NIMA weights once, in this process; warn once; fail clearly."""
    from photoqc.models.nima_predict import NIMA_OFF_WARNING, nima_model_names, resolve_nima_weights
    from photoqc.models.nima_weights import NimaWeightsError, load_nima
    from photoqc.pipelines.extract import ExtractConfig
    from photoqc.segmentation import SegmenterConfig, resolve_segmenter
    from photoqc.weights import WeightsNotFoundError

    seg_config = SegmenterConfig(
        kind=segmenter,
        variant=variant,
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

    nima_files = resolve_nima_weights(nima_weights, weights_dir)
    for path in nima_files:
        try:
            load_nima(path)  # fail now, with the file's name, rather than in every worker
        except NimaWeightsError as exc:
            raise _fail(str(exc)) from None
    if not nima_files:
        console.print(
            f"[bold yellow]warning:[/] {NIMA_OFF_WARNING}", highlight=False, soft_wrap=True
        )
    return ExtractConfig(
        segmenter=seg_config,
        nima_weights=nima_files,
        nima_models=nima_model_names(nima_files),
        max_pixels=max_pixels,
        batch_size=batch_size,
    )


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
    from photoqc.features import table_groups

    if markdown:
        typer.echo("| feature | group | description |\n|---|---|---|")
        for group in table_groups():
            for spec in group.specs:
                typer.echo(f"| `{spec.name}` | {group.name} | {spec.description} |")
        return
    table = Table("feature", "group", "description", title="photoqc features")
    for group in table_groups():
        for spec in group.specs:
            table.add_row(spec.name, group.name, spec.description)
    Console().print(table)


DEFAULT_MODEL_NOTE = (
    "using photoqc's built-in default model (trained on 300 phone photos of everyday scenes "
    "scored by people, CLIVE; no NIMA). For your own domain, train on your hand labels and "
    "pass --model."
)


def _model_or_default(model: Path | None) -> Path:
    """``model``, or the built-in default (said once, on stderr)."""
    if model is not None:
        return model
    from photoqc.models.bundle import default_model_dir

    console.print(f"[cyan]note:[/] {DEFAULT_MODEL_NOTE}", highlight=False, soft_wrap=True)
    return default_model_dir()


def _load_bundle_or_fail(model: Path):
    from photoqc.models.bundle import BundleError, load_bundle

    try:
        return load_bundle(model)
    except BundleError as exc:
        raise _fail(str(exc)) from None


def _scoring_config_or_fail(bundle, **kwargs):
    from photoqc.pipelines.score import ScoringSetupError, scoring_config
    from photoqc.weights import WeightsNotFoundError

    try:
        config, warnings = scoring_config(bundle, **kwargs)
    except (ScoringSetupError, WeightsNotFoundError) as exc:
        raise _fail(str(exc)) from None
    for warning in warnings:
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    return config


@app.command("train")
def train_command(
    labels: Path = typer.Argument(
        ...,
        help="Labels CSV: `image` plus `label` (good/bad, 1/0, true/false), or `votes_good` + "
        "`votes_total`, or `mos` (with --mos-threshold). Paths relative to the CSV's folder.",
        exists=True,
        dir_okay=False,
        show_default=False,
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Model folder to write (model.txt, photoqc.json, curves).",
        file_okay=False,
        show_default=False,
    ),
    mos_threshold: float | None = typer.Option(
        None,
        "--mos-threshold",
        help="MOS at which a photo turns good: soft target sigmoid((mos - T) / s).",
    ),
    mos_scale: float = typer.Option(
        DEFAULT_MOS_SCALE, "--mos-scale", help="The s of that sigmoid, MOS units."
    ),
    segmenter: SegmenterChoice = typer.Option(SegmenterChoice.auto, "--segmenter", "-s"),
    nima_weights: list[Path] | None = NIMA_WEIGHTS_OPTION,
    weights_dir: Path | None = WEIGHTS_DIR_OPTION,
    folds: int = typer.Option(5, "--folds", min=2, help="Cross-validation folds."),
    seed: int = typer.Option(0, "--seed"),
    workers: int = typer.Option(1, "--workers", "-w", min=1),
    cache_dir: Path | None = typer.Option(
        None,
        "--cache-dir",
        envvar="PHOTOQC_CACHE_DIR",
        file_okay=False,
        help="Feature cache folder (default ~/.cache/photoqc).",
    ),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Neither read nor write the feature cache."
    ),
    offline: bool = OFFLINE_OPTION,
) -> None:
    """Train the good/bad classifier on hand labels, cross-validated, into a model folder.

    Features are cached by file content and settings, so retraining is fast. Prints
    ROC-AUC, PR-AUC, log loss and accuracy of stratified k-fold cross-validation and the
    chosen threshold (maximum F1 of "good" on out-of-fold predictions).
    """
    from photoqc.pipelines.cache import FeatureCache
    from photoqc.pipelines.labels import LabelsError, read_labels
    from photoqc.pipelines.train import TrainConfig, train

    try:
        parsed = read_labels(labels, mos_threshold=mos_threshold, mos_scale=mos_scale)
    except LabelsError as exc:
        raise _fail(str(exc)) from None
    config = _extract_config(
        segmenter=segmenter.value,
        variant="v1",
        weights_dir=weights_dir,
        analysis_size=512,
        offline=offline,
        nima_weights=nima_weights or [],
        max_pixels=DEFAULT_MAX_PIXELS,
        batch_size=16,
    )
    cache = None if no_cache else FeatureCache(cache_dir)
    record = {"labels_file": labels.name, "mos_threshold": mos_threshold, "mos_scale": mos_scale}
    with _progress() as progress:
        task = progress.add_task(f"features ({config.segmenter.kind})", total=len(parsed))

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            outcome = train(
                parsed,
                config,
                out,
                TrainConfig(folds=folds, seed=seed),
                cache=cache,
                workers=workers,
                on_progress=on_progress,
                training_record=record,
            )
        except ValueError as exc:
            raise _fail(str(exc)) from None
    m = outcome.cv.metrics
    table = Table(
        "metric", "mean", "std", "all out-of-fold", title=f"{int(m['folds'])}-fold cross-validation"
    )
    for name in ("roc_auc", "pr_auc", "log_loss", "accuracy"):
        table.add_row(
            name, f"{m[name + '_mean']:.3f}", f"{m[name + '_std']:.3f}", f"{m[name + '_oof']:.3f}"
        )
    console.print(table)
    t = outcome.bundle.meta["training"]
    console.print(
        f"{t['images']} photos ({t['good']} good, {t['bad']} bad; "
        f"{outcome.from_cache} features from cache); threshold "
        f"{outcome.bundle.threshold:.3f} (max F1); model written to [bold]{out}[/]",
        highlight=False,
        soft_wrap=True,
    )
    for image, error in outcome.failed[:10]:
        console.print(f"  [red]left out[/] {image}: {error}", highlight=False, soft_wrap=True)


@app.command("score")
def score_command(
    input: Path = typer.Argument(
        ...,
        help="A folder of photos (recursive) or a CSV with an `image` column.",
        show_default=False,
    ),
    model: Path | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Model folder from `photoqc train`. Default: the built-in model.",
        file_okay=False,
        show_default=False,
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Scores CSV (appended to and resumed).",
        dir_okay=False,
        show_default=False,
    ),
    workers: int = typer.Option(
        1, "--workers", "-w", min=1, help="Processes (each loads the model once)."
    ),
    shap: bool = typer.Option(
        False, "--shap", help="Add a shap_<feature> column per model feature."
    ),
    top: int = typer.Option(3, "--reasons", min=1, help="Reasons per photo."),
    segmenter: SegmenterChoice | None = typer.Option(
        None,
        "--segmenter",
        "-s",
        help="Default: the model's own. Another needs --allow-segmenter-mismatch.",
    ),
    allow_segmenter_mismatch: bool = typer.Option(False, "--allow-segmenter-mismatch"),
    nima_weights: list[Path] | None = NIMA_WEIGHTS_OPTION,
    weights_dir: Path | None = WEIGHTS_DIR_OPTION,
    batch_size: int = typer.Option(16, "--batch-size", min=1),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Start the CSV afresh instead of resuming."
    ),
    offline: bool = OFFLINE_OPTION,
) -> None:
    """Score photos good or bad, with reasons: one CSV row per input, written as it finishes.

    Columns: `image, status, error, p_good, verdict, threshold, reasons, segmenter`,
    provenance, every feature, and `shap_*` with --shap. If the run is stopped, the same
    command continues where it left off: no row is lost or written twice.
    """
    from photoqc.pipelines.inputs import InputError, collect_inputs
    from photoqc.pipelines.score import ScoringSetupError, score_to_csv

    try:
        items = collect_inputs(input)
    except InputError as exc:
        raise _fail(str(exc)) from None
    model = _model_or_default(model)
    bundle = _load_bundle_or_fail(model)
    config = _scoring_config_or_fail(
        bundle,
        segmenter=segmenter.value if segmenter else None,
        allow_segmenter_mismatch=allow_segmenter_mismatch,
        weights_dir=str(weights_dir) if weights_dir else None,
        nima_weights=[str(p) for p in nima_weights or []],
        allow_download=not offline,
        batch_size=batch_size,
    )
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task(f"scoring ({config.segmenter.kind})", total=len(items))
        try:
            summary = score_to_csv(
                items,
                model,
                config,
                out,
                with_shap=shap,
                workers=workers,
                overwrite=overwrite,
                top=top,
                on_rows=lambda n: progress.advance(task, n),
            )
        except ScoringSetupError as exc:
            raise _fail(str(exc)) from None
        progress.update(task, completed=len(items))
    console.print(
        f"{out}: {summary.scored} scored now ({summary.good} good, {summary.bad} bad, "
        f"{summary.errors} "
        f"errors), {summary.already_done} already there from an earlier run, in "
        f"{time.perf_counter() - started:.1f} s",
        highlight=False,
        soft_wrap=True,
    )


@app.command("explain")
def explain_command(
    image: Path = typer.Argument(
        ..., exists=True, dir_okay=False, show_default=False, help="One photo."
    ),
    model: Path | None = typer.Option(
        None, "--model", "-m", file_okay=False, help="Model folder. Default: the built-in model."
    ),
    waterfall: Path | None = typer.Option(
        None, "--waterfall", help="Save a SHAP waterfall plot (PNG) here."
    ),
    top: int = typer.Option(5, "--reasons", min=1, help="Reasons to list."),
    nima_weights: list[Path] | None = NIMA_WEIGHTS_OPTION,
    weights_dir: Path | None = WEIGHTS_DIR_OPTION,
    offline: bool = OFFLINE_OPTION,
) -> None:
    """Explain one photo's verdict: probability, reasons, and each feature's SHAP push."""
    import pandas as pd

    from photoqc.models.explain import save_waterfall, top_reasons
    from photoqc.pipelines.extract import FeatureExtractor
    from photoqc.pipelines.inputs import InputItem
    from photoqc.pipelines.score import verdict

    model = _model_or_default(model)
    bundle = _load_bundle_or_fail(model)
    config = _scoring_config_or_fail(
        bundle,
        weights_dir=str(weights_dir) if weights_dir else None,
        nima_weights=[str(p) for p in nima_weights or []],
        allow_download=not offline,
    )
    row = FeatureExtractor(config).row(InputItem(str(image), image))
    if row["status"] != "ok":
        raise _fail(f"{image}: {row['error']}")
    frame = pd.DataFrame([row])
    p_good = float(bundle.predict_good(frame)[0])
    contributions, expected = bundle.contributions(frame)
    names = bundle.feature_names
    reasons = top_reasons(row, contributions[0], names, bundle.good_medians, top=top)
    label = verdict(p_good, bundle.threshold)
    colour = "green" if label == "good" else "red"
    typer.echo(f"{image}")
    Console().print(
        f"verdict: [bold {colour}]{label}[/]  p_good {p_good:.3f}  "
        f"(threshold {bundle.threshold:.3f}, "
        f"segmenter {row['segmenter']})",
        highlight=False,
    )
    if not reasons:
        typer.echo("no feature pushes clearly towards bad")
    else:
        typer.echo("why not good:")
        for i, r in enumerate(reasons, start=1):
            typer.echo(f"  {i}. {r.text}")
        table = Table(
            "family", "strongest feature", "value", "good photos", "SHAP family (feature)"
        )
        for r in reasons:
            table.add_row(
                r.family,
                r.feature,
                f"{r.value:.4g}",
                f"{r.typical:.4g}",
                f"{r.family_contribution:+.2f} ({r.contribution:+.2f})",
            )
        Console().print(table)
    if waterfall:
        values = [float(row[n]) for n in names]
        save_waterfall(
            contributions[0],
            float(expected[0]),
            values,
            names,
            str(waterfall),
            title=f"{image.name}: p_good {p_good:.2f}",
        )
        typer.echo(f"waterfall written to {waterfall}")


@app.command("demo")
def demo_command(
    out: Path = typer.Option(
        Path("photoqc-demo"), "--out", "-o", file_okay=False, help="Folder for everything."
    ),
    workers: int = typer.Option(2, "--workers", "-w", min=1),
    segmenter: SegmenterChoice = typer.Option(
        SegmenterChoice.grabcut,
        "--segmenter",
        "-s",
        help="grabcut needs no weights; none is fastest.",
    ),
    crops: int = typer.Option(
        2, "--crops", min=1, help="Crops per source photo (more: bigger set)."
    ),
) -> None:
    """A complete offline run: make a labelled set from scikit-image's photos, train, score.

    Clean photos and mild defects are labelled good, severe ones bad (under/over-exposure,
    blown highlights, low contrast, dark corner, defocus and motion blur, sensor noise,
    heavy JPEG, object cut off). Two whole source photos are held out for testing.
    """
    from photoqc.pipelines.demo import DemoConfig, run_demo

    config = DemoConfig(segmenter=segmenter.value, crops_per_photo=crops)
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task("demo", total=None)

        def on_stage(message: str) -> None:
            progress.console.print(f"[bold]{message}[/]", highlight=False)
            progress.update(task, description=message.split(" (")[0], completed=0, total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = run_demo(out, config, workers=workers, on_stage=on_stage, on_progress=on_progress)
    m = result.outcome.cv.metrics
    console.print(
        f"cross-validated ROC-AUC {m['roc_auc_mean']:.3f} ± {m['roc_auc_std']:.3f} on "
        f"{result.counts['train']} training photos",
        highlight=False,
    )
    console.print(
        f"[bold]held-out ROC-AUC {result.holdout_roc_auc:.3f}[/] on "
        f"{result.counts['holdout']} photos of "
        f"scenes never seen in training",
        highlight=False,
    )
    console.print(
        f"model: {result.model_dir}  scores: {result.scores_csv}  "
        f"({time.perf_counter() - started:.0f} s)\n"
        f"next: photoqc explain {out}/images/<photo>.jpg --model {result.model_dir}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("tune")
def tune_command(
    scores: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        show_default=False,
        help="Scores CSV from `photoqc score`.",
    ),
    labels: Path = typer.Option(
        ...,
        "--labels",
        exists=True,
        dir_okay=False,
        show_default=False,
        help="Hand labels for (some of) the scored photos.",
    ),
    model: Path = typer.Option(..., "--model", "-m", file_okay=False, show_default=False),
    target_precision: float | None = typer.Option(
        None,
        "--target-precision",
        min=0.0,
        max=1.0,
        help="Lowest threshold whose precision (share of accepted photos that are good) "
        "is at least P.",
    ),
    cost_accept_bad: float | None = typer.Option(
        None, "--cost-accept-bad", min=0.0, help="Cost of publishing one bad photo."
    ),
    cost_reject_good: float | None = typer.Option(
        None, "--cost-reject-good", min=0.0, help="Cost of rejecting one good photo."
    ),
    mos_threshold: float | None = typer.Option(None, "--mos-threshold", help="For MOS labels."),
    write: bool = typer.Option(
        False, "--write", help="Store the chosen threshold in the model folder."
    ),
) -> None:
    """Choose the threshold by target precision or by minimum cost, from labelled scores.

    Prints precision, recall and cost for a range of thresholds and the chosen one;
    `--write` stores it in the model (previous thresholds are kept, with date and rule).
    """
    from photoqc.pipelines.labels import LabelsError
    from photoqc.pipelines.tune import TuneError, summary_rows, tune, write_threshold

    costs_given = cost_accept_bad is not None and cost_reject_good is not None
    if (target_precision is None) == (not costs_given):
        raise _fail(
            "give either --target-precision P, or both --cost-accept-bad A and "
            "--cost-reject-good R",
            code=2,
        )
    _load_bundle_or_fail(model)
    try:
        joined, table, choice = tune(
            scores,
            labels,
            target_precision=target_precision,
            cost_accept_bad=cost_accept_bad if costs_given else 1.0,
            cost_reject_good=cost_reject_good if costs_given else 1.0,
            mos_threshold=mos_threshold,
        )
    except (TuneError, LabelsError) as exc:
        raise _fail(str(exc)) from None
    out = Table(
        "threshold",
        "precision",
        "recall",
        "F1",
        "accepted",
        "bad in",
        "good out",
        "cost",
        title=f"{len(joined)} labelled photos (bad in: bad photos accepted; good out: good "
        "photos rejected)",
        box=box.SIMPLE,
    )
    for _, row in summary_rows(table, choice.threshold).iterrows():
        chosen = abs(row["threshold"] - choice.threshold) < 1e-12
        style = "bold green" if chosen else None
        out.add_row(
            f"{row['threshold']:.3f}",
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            str(int(row["accepted"])),
            str(int(row["wrongly_accepted"])),
            str(int(row["wrongly_rejected"])),
            f"{row['cost']:g}",
            style=style,
        )
    Console().print(out)
    typer.echo(f"chosen threshold {choice.threshold:.6f} by {choice.rule}")
    if write:
        write_threshold(model, choice.threshold, choice.rule, n_photos=len(joined))
        typer.echo(
            f"written to {model / 'photoqc.json'} (previous threshold kept in threshold_history)"
        )


class ReportImages(StrEnum):
    auto = "auto"
    embed = "embed"
    link = "link"


@app.command("report")
def report_command(
    scores: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        show_default=False,
        help="Scores CSV from `photoqc score`.",
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", dir_okay=False, show_default=False, help="The HTML file to write."
    ),
    model: Path | None = typer.Option(
        None,
        "--model",
        "-m",
        file_okay=False,
        help="Model folder, to show SHAP bars when the CSV has no shap_* columns.",
    ),
    images: ReportImages = typer.Option(
        ReportImages.auto,
        "--images",
        help="`embed` pictures in the HTML, `link` them from <name>_files/, or `auto` "
        "(embed up to 2,000 rows).",
    ),
    overlays: bool = typer.Option(
        True,
        "--overlays/--no-overlays",
        help="Draw the object mask (re-runs each row's segmenter).",
    ),
    weights_dir: Path | None = WEIGHTS_DIR_OPTION,
) -> None:
    """Write a self-contained HTML report for moderators: filter, sort, inspect, mark.

    Summary counts; a table with thumbnail, verdict, p_good and reasons, sortable and
    filterable by verdict and by reason; a detail view with the mask overlay and SHAP bars;
    good/bad marks exported as a labels CSV that `photoqc train` reads.
    """
    from photoqc.pipelines.report import build_report

    with _progress() as progress:
        task = progress.add_task("report", total=None)
        try:
            counts = build_report(
                scores,
                out,
                model_dir=str(model) if model else None,
                images=images.value,
                overlays=overlays,
                weights_dir=str(weights_dir) if weights_dir else None,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        except ValueError as exc:
            raise _fail(str(exc)) from None
    console.print(
        f"wrote [bold]{out}[/]: {counts['rows']} photos ({counts['good']} good, "
        f"{counts['bad']} bad, "
        f"{counts['error']} errors; {counts['with_image']} with pictures)",
        highlight=False,
        soft_wrap=True,
    )


nima_app = typer.Typer(
    help="NIMA (Neural Image Assessment): import idealo's weights, train your own.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(nima_app, name="nima")


@nima_app.command("import")
def nima_import(
    file: Path = typer.Argument(
        ...,
        help="idealo's NIMA MobileNet weights: Keras `.hdf5`/`.h5` or TensorFlow Lite `.tflite`.",
        exists=True,
        dir_okay=False,
        show_default=False,
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Output `.safetensors`; a `.json` description is written beside it.",
        show_default=False,
    ),
    name: str | None = typer.Option(
        None,
        "--name",
        help="Model name for the feature columns (`nima_<name>_mean`); "
        "default: from the output file name (`nima_technical.safetensors` -> technical).",
    ),
    trained_on: str | None = typer.Option(
        None,
        "--trained-on",
        help="What the weights were trained on (recorded in the JSON); known for idealo's files.",
    ),
) -> None:
    """Convert idealo's NIMA weights to photoqc's PyTorch format (safetensors + JSON).

    TFLite kernels are dequantised (int8 x per-channel scale) and their folded batch norm
    kept as a bias; Keras kernels are transposed. The result runs in `photoqc features
    --nima-weights`.
    """
    from photoqc.models.nima import NIMA
    from photoqc.models.nima_import import (
        KNOWN_FILES,
        TRAINED_ON_BY_NAME,
        NimaImportError,
        guess_name,
        import_weights,
    )
    from photoqc.models.nima_weights import model_name_from_path, save_nima, sha256_of

    if out.suffix != ".safetensors":
        raise _fail(f"{out}: the output must end in .safetensors")
    digest = sha256_of(file)
    known = KNOWN_FILES.get(digest, {})
    model_name = name or model_name_from_path(out)
    label = known.get("name") or guess_name(file)
    try:
        state = import_weights(file)
    except NimaImportError as exc:
        raise _fail(str(exc)) from None
    model = NIMA("mobilenet_v1")
    model.load_state_dict(state)
    meta = save_nima(
        model,
        out,
        name=model_name,
        source={"file": file.name, "sha256": digest, "format": file.suffix.lstrip(".").lower()},
        trained_on=trained_on
        or known.get("trained_on")
        or TRAINED_ON_BY_NAME.get(label or "", "unknown"),
    )
    console.print(
        f"wrote [bold]{out}[/] and {out.with_suffix('.json').name}: NIMA {meta['name']} "
        f"({meta['backbone']}, trained on {meta['trained_on']})",
        highlight=False,
        soft_wrap=True,
    )


class NimaBackboneChoice(StrEnum):
    mobilenet_v1 = "mobilenet_v1"
    mobilenet_v2 = "mobilenet_v2"


@nima_app.command("train")
def nima_train(
    ratings: Path = typer.Argument(
        ...,
        help="CSV with `image` and either `votes_1`..`votes_10` or `mos` (+ optional `std`).",
        exists=True,
        dir_okay=False,
        show_default=False,
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Output folder: checkpoint, nima_<name>.safetensors, metrics.json.",
        show_default=False,
        file_okay=False,
    ),
    init: Path | None = typer.Option(
        None,
        "--init",
        help="Weights to fine-tune (e.g. imported idealo weights). Default: "
        "ImageNet weights for torchvision backbones, else from scratch with a warning.",
        exists=True,
        dir_okay=False,
    ),
    backbone: NimaBackboneChoice = typer.Option(NimaBackboneChoice.mobilenet_v1, "--backbone"),
    name: str = typer.Option("custom", "--name", help="Model name (columns `nima_<name>_*`)."),
    mos_range: tuple[float, float] = typer.Option(
        (1.0, 10.0),
        "--mos-range",
        help="Scale of `mos` (and `std`), mapped onto 1..10, e.g. `0 100`.",
    ),
    epochs_head: int = typer.Option(
        5, "--epochs-head", min=0, help="Epochs training the head alone."
    ),
    epochs_all: int = typer.Option(5, "--epochs-all", min=0, help="Epochs training all layers."),
    lr_head: float = typer.Option(1e-3, "--lr-head", help="Learning rate of the head stage."),
    lr_all: float = typer.Option(3e-5, "--lr-all", help="Learning rate of the all-layers stage."),
    batch_size: int = typer.Option(16, "--batch-size", min=1),
    val_fraction: float = typer.Option(0.2, "--val-fraction", min=0.0, max=0.9),
    seed: int = typer.Option(0, "--seed"),
    max_steps: int | None = typer.Option(
        None, "--max-steps", min=1, help="Cap on steps per epoch."
    ),
    restart: bool = typer.Option(
        False, "--restart", help="Ignore an existing checkpoint in --out."
    ),
    weights_dir: Path | None = WEIGHTS_DIR_OPTION,
    offline: bool = OFFLINE_OPTION,
) -> None:
    """Train or fine-tune NIMA with the EMD loss, in two stages (head, then all layers).

    Score distributions come from the votes, or from `mos`/`std` as a discretised normal
    on the 1..10 scale. A checkpoint is written every epoch; running the same command
    again resumes. At the end LCC, SRCC and EMD on the validation split are printed and
    stored in the weights' JSON and `metrics.json`.
    """
    from photoqc.models.nima_weights import NimaWeightsError
    from photoqc.pipelines.nima_train import NimaTrainConfig, RatingsError, read_ratings, train_nima

    try:
        data = read_ratings(ratings, mos_range=mos_range)
    except RatingsError as exc:
        raise _fail(str(exc)) from None
    config = NimaTrainConfig(
        backbone=backbone.value,
        name=name,
        init=str(init) if init else None,
        epochs_head=epochs_head,
        epochs_all=epochs_all,
        lr_head=lr_head,
        lr_all=lr_all,
        batch_size=batch_size,
        val_fraction=val_fraction,
        seed=seed,
        max_steps_per_epoch=max_steps,
        weights_dir=str(weights_dir) if weights_dir else None,
        allow_download=not offline,
    )
    with _progress() as progress:
        task = progress.add_task("training", total=None, unit="step")

        def on_step(stage: str, epoch: int, step: int, steps: int, loss: float) -> None:
            progress.update(
                task,
                total=steps,
                completed=step,
                description=f"epoch {epoch} ({stage}) loss {loss:.4f}",
            )

        def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
            progress.console.print(
                f"epoch {epoch}: train EMD {metrics['train_emd']:.4f}, validation EMD "
                f"{metrics['emd']:.4f}, LCC {metrics['lcc']:.3f}, SRCC {metrics['srcc']:.3f}",
                highlight=False,
            )

        try:
            result = train_nima(
                data, out, config, restart=restart, on_step=on_step, on_epoch=on_epoch
            )
        except (RatingsError, NimaWeightsError, ValueError) as exc:
            raise _fail(str(exc)) from None
    m = result.metrics
    console.print(
        f"validation ({int(m['n'])} images): EMD {m['emd']:.4f}, LCC {m['lcc']:.3f}, "
        f"SRCC {m['srcc']:.3f}; wrote [bold]{result.weights}[/]",
        highlight=False,
        soft_wrap=True,
    )


if __name__ == "__main__":  # pragma: no cover
    app()
