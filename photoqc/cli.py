"""The ``photoqc`` command line: one command per verb.

Each command parses its options, calls one pipeline function and prints what came back.
How features are made is the extraction recipe's business
(:class:`photoqc.pipelines.recipe.ExtractConfig`); options that shape it are defined once
here and handed over as :class:`photoqc.pipelines.recipe.RecipeOptions`.

Exit codes: 0 success; 1 the job could not run (bad input folder or CSV, missing weights);
2 wrong usage (unknown option, bad value); 3 the job ran but some rows are errors and
``--fail-on-error`` was given.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import signal
import time
import typing
from dataclasses import replace
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
from photoqc.pipelines.labels import DEFAULT_MOS_SCALE, MOS_TARGETS
from photoqc.pipelines.recipe import DEFAULT_BATCH_SIZE, RecipeOptions
from photoqc.segmentation.registry import AUTO, CHOICES, MASKRCNN, MASKRCNN_VARIANTS, choices_help

app = typer.Typer(
    name="photoqc",
    help=(
        "Decide whether listing photos are technically good enough to publish, and say why.\n\n"
        "Try it: `photoqc demo` (offline, about 2 minutes). Then: `photoqc train LABELS.csv "
        "--out model/`, `photoqc score PHOTOS/ --model model/ --out scores.csv`, `photoqc explain "
        "PHOTO --model model/`, `photoqc report scores.csv --out report.html`. "
        "`photoqc features PHOTOS/ --out features.parquet` measures brightness, contrast, "
        "clipping, sharpness, noise, compression and object-versus-background light without "
        "a model. `photoqc serve` answers uploads over HTTP (`POST /v1/check`) and shows a "
        "page to drop a photo on."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)

console = Console(stderr=True)

SegmenterChoice = StrEnum("SegmenterChoice", [(c, c) for c in CHOICES])
"""``--segmenter`` values, from the segmenter registry."""

VariantChoice = StrEnum("VariantChoice", [(v, v) for v in MASKRCNN_VARIANTS])
MosTarget = StrEnum("MosTarget", [(t, t) for t in MOS_TARGETS])

# --- options several commands share: one definition, one help text -----------------------

_WEIGHTS_DIR_HELP = (
    "Folder holding model weight files (Mask R-CNN, NIMA), searched before the torch hub cache."
)
_NIMA_WEIGHTS_HELP = (
    "A NIMA weights file (`.safetensors` from `photoqc nima import` or `nima train`); repeat "
    "for several models. Default: every NIMA file in the weights folder; without any, the "
    "`nima_...` features are empty."
)
WEIGHTS_DIR_OPTION = typer.Option(
    None, "--weights-dir", envvar="PHOTOQC_WEIGHTS_DIR", help=_WEIGHTS_DIR_HELP, file_okay=False
)
OFFLINE_OPTION = typer.Option(
    False, "--offline", help="Never download weights (same as `PHOTOQC_OFFLINE=1`)."
)
NIMA_WEIGHTS_OPTION = typer.Option(None, "--nima-weights", help=_NIMA_WEIGHTS_HELP, dir_okay=False)
NO_NIMA_OPTION = typer.Option(
    False, "--no-nima", help="Leave NIMA off (its `nima_...` features empty), even with weights."
)
SEGMENTER_OPTION = typer.Option(
    None,
    "--segmenter",
    "-s",
    help=f"How to find the object: {choices_help()}. Default `{AUTO}`.",
    show_default=False,
)
VARIANT_OPTION = typer.Option(
    None,
    "--maskrcnn-variant",
    help="Mask R-CNN version: `v1` (faster on CPU) or `v2` (more accurate). Default "
    f"`{MASKRCNN.defaults['variant']}`.",
    show_default=False,
)
ANALYSIS_SIZE_OPTION = typer.Option(
    None,
    "--analysis-size",
    min=128,
    help="Short side (pixels) at which Mask R-CNN looks at a photo. Default "
    f"{MASKRCNN.defaults['analysis_size']}.",
    show_default=False,
)
MAX_PIXELS_OPTION = typer.Option(
    None,
    "--max-pixels",
    min=1,
    help="Refuse images larger than this many pixels (decompression-bomb guard). Default "
    f"{DEFAULT_MAX_PIXELS:,} (or the model's).",
    show_default=False,
)
BATCH_SIZE_OPTION = typer.Option(
    None,
    "--batch-size",
    min=1,
    help=f"Images per batch (NIMA runs per batch). Default {DEFAULT_BATCH_SIZE}.",
    show_default=False,
)
WORKERS_OPTION = typer.Option(
    1, "--workers", "-w", min=1, help="Processes in parallel; each loads its models once."
)
MODEL_OPTION = typer.Option(
    None,
    "--model",
    "-m",
    help="Model folder from `photoqc train`. Default: the built-in model.",
    file_okay=False,
    show_default=False,
)


def _existing_file(help: str):
    """A required argument naming a file that must exist."""
    return typer.Argument(..., help=help, exists=True, dir_okay=False, show_default=False)


def _out(help: str, *, folder: bool = False):
    """The required ``--out`` option: a file, or a ``folder``."""
    return typer.Option(
        ...,
        "--out",
        "-o",
        help=help,
        file_okay=not folder,
        dir_okay=folder,
        show_default=False,
    )


RECIPE_OPTIONS: dict[str, tuple[object, object]] = {
    "segmenter": (SegmenterChoice | None, SEGMENTER_OPTION),
    "maskrcnn_variant": (VariantChoice | None, VARIANT_OPTION),
    "analysis_size": (int | None, ANALYSIS_SIZE_OPTION),
    "weights_dir": (Path | None, WEIGHTS_DIR_OPTION),
    "nima_weights": (list[Path] | None, NIMA_WEIGHTS_OPTION),
    "no_nima": (bool, NO_NIMA_OPTION),
    "max_pixels": (int | None, MAX_PIXELS_OPTION),
    "batch_size": (int | None, BATCH_SIZE_OPTION),
    "offline": (bool, OFFLINE_OPTION),
}
"""The options that shape the extraction recipe, defined once: (type, typer option)."""


def recipe_options(*names: str):
    """Give a command the shared recipe options ``names``; it receives them together as
    its ``recipe`` argument (a :class:`RecipeOptions`), after its own parameters in
    ``--help``."""

    def decorate(command):
        hints = typing.get_type_hints(command)
        own = [p for p in inspect.signature(command).parameters.values() if p.name != "recipe"]
        shared = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=RECIPE_OPTIONS[name][1],
                annotation=RECIPE_OPTIONS[name][0],
            )
            for name in names
        ]

        @functools.wraps(command)
        def with_recipe(**values):
            given = {name: values.pop(name) for name in names}
            return command(**values, recipe=_recipe_options(**given))

        own = [p.replace(annotation=hints[p.name], kind=p.KEYWORD_ONLY) for p in own]
        with_recipe.__signature__ = inspect.Signature([*own, *shared])
        with_recipe.__annotations__ = {p.name: p.annotation for p in (*own, *shared)}
        return with_recipe

    return decorate


def _recipe_options(
    *,
    segmenter: SegmenterChoice | None = None,
    maskrcnn_variant: VariantChoice | None = None,
    analysis_size: int | None = None,
    weights_dir: Path | None = None,
    offline: bool = False,
    no_nima: bool = False,
    nima_weights: list[Path] | None = None,
    max_pixels: int | None = None,
    batch_size: int | None = None,
) -> RecipeOptions:
    """The recipe options of the values given (None: the default, or the model's)."""
    return RecipeOptions(
        segmenter=segmenter.value if segmenter else None,
        maskrcnn_variant=maskrcnn_variant.value if maskrcnn_variant else None,
        analysis_size=analysis_size,
        weights_dir=str(weights_dir) if weights_dir else None,
        offline=offline,
        nima=not no_nima,
        nima_weights=tuple(str(p) for p in nima_weights or ()),
        max_pixels=max_pixels,
        batch_size=batch_size,
    )


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
    # SIGTERM stops a run the way Ctrl-C does: workers end, written rows are kept and said.
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
        force=True,
    )


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _fail(message: str, hint: str | None = None, code: int = 1) -> typer.Exit:
    console.print(Text.assemble(("error: ", "bold red"), message), highlight=False, soft_wrap=True)
    if hint:
        _say(f"hint: {hint}", "dim")
    return typer.Exit(code)


def _say(message: str, style: str = "") -> None:
    """A line on stderr, never read as rich markup (file names may hold brackets)."""
    console.print(Text(message, style=style), highlight=False, soft_wrap=True)


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        console.print(Text.assemble(("warning: ", "bold yellow"), warning), soft_wrap=True)


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


def _inputs_or_fail(source: Path):
    """The input items of a folder or CSV (what could not be looked at, said once)."""
    from photoqc.pipelines.inputs import InputError, collect_inputs

    try:
        found = collect_inputs(source)
    except InputError as exc:
        raise _fail(str(exc)) from None
    _warn(found.warnings)
    return found.items


@contextlib.contextmanager
def _output_errors():
    """One clear line, and the exit code scripts expect, for what stops an output: another
    process on it, another run's rows in it, a full disk (exit 1), or an interruption
    (exit 130, saying what was kept and how to go on)."""
    from photoqc.pipelines.outputs import Interrupted, OutputError

    try:
        yield
    except OutputError as exc:
        raise _fail(str(exc)) from None
    except Interrupted as stop:
        _say(
            f"interrupted: {stop.kept} rows kept in {stop.out}; run the same command again "
            "to go on from there",
            "bold yellow",
        )
        raise typer.Exit(130) from None


def _resolve_or_fail(options: RecipeOptions):
    from photoqc.pipelines.recipe import ExtractConfig, RecipeError

    try:
        config, warnings = ExtractConfig.resolve(options)
    except RecipeError as exc:
        raise _fail(str(exc)) from None
    _warn(warnings)
    return config


ALL_RECIPE_OPTIONS = tuple(RECIPE_OPTIONS)


@app.command()
@recipe_options(*ALL_RECIPE_OPTIONS)
def features(
    input: Path = typer.Argument(
        ...,
        help="A folder of photos (searched recursively for .jpg .jpeg .png .webp .tif .tiff "
        ".bmp .gif) or a CSV file with an `image` column (paths relative to the CSV's folder).",
        show_default=False,
    ),
    out: Path = _out("Output table: `.parquet` or `.csv`."),
    workers: int = WORKERS_OPTION,
    fail_on_error: bool = typer.Option(
        False, "--fail-on-error", help="Exit with code 3 when any image could not be processed."
    ),
    recipe: RecipeOptions = RecipeOptions(),
) -> None:
    """Measure quality features of every photo: one row per input file, always.

    Columns: `image, status (ok|error), error, segmenter`, segmentation provenance, then
    every feature (see `photoqc list-features`). Files that cannot be read get
    `status=error`, a message, and empty features; the run goes on.
    """
    from photoqc.pipelines.extract import write_features
    from photoqc.pipelines.tables import check_table_path

    try:
        check_table_path(out)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    items = _inputs_or_fail(input)
    config = _resolve_or_fail(recipe)
    started = time.perf_counter()
    with _progress() as progress, _output_errors():
        task = progress.add_task(f"features ({config.segmenter.kind})", total=len(items))
        summary = write_features(
            items, config, out, workers=workers, on_rows=lambda n: progress.advance(task, n)
        )
    _report_summary(summary, out, time.perf_counter() - started)
    if fail_on_error and summary.errors:
        raise typer.Exit(3)


def _report_summary(summary, out: Path, seconds: float) -> None:
    resumed = f"; {summary.already_done} from the interrupted run" if summary.already_done else ""
    _say(
        f"wrote {summary.rows} rows to {out} ({summary.rows - summary.errors} ok, "
        f"{summary.errors} error{'s' if summary.errors != 1 else ''}{resumed}) in {seconds:.1f} s"
    )
    for image, error in summary.first_errors:
        _say(f"  error {image}: {error}", "red")
    if summary.errors > len(summary.first_errors):
        _say(
            f"  ... and {summary.errors - len(summary.first_errors)} more (see the `error` column)"
        )


@app.command("list-features")
def list_features(
    markdown: bool = typer.Option(False, "--markdown", help="Print a Markdown table instead."),
) -> None:
    """List every feature: what it measures (unit, range), its family and its direction."""
    from photoqc.features import table_groups

    if markdown:
        typer.echo("| feature | group | family | better | description |\n|---|---|---|---|---|")
        for group in table_groups():
            for spec in group.specs:
                typer.echo(
                    f"| `{spec.name}` | {group.name} | {spec.family} | {spec.direction} | "
                    f"{spec.description} |"
                )
        return
    table = Table("feature", "group", "family", "better", "description", title="photoqc features")
    for group in table_groups():
        for spec in group.specs:
            table.add_row(spec.name, group.name, spec.family, str(spec.direction), spec.description)
    Console().print(table)


DEFAULT_MODEL_NOTE = (
    "using photoqc's built-in default model (trained on real phone photos of everyday "
    "scenes scored by people, CLIVE). For your own domain, train on your hand labels and "
    "pass --model."
)


def _scorer_or_fail(model: Path | None, options: RecipeOptions, **kwargs):
    """The model's whole scoring pipeline (said once when it is the built-in default)."""
    from photoqc.models.bundle import BundleError, model_dir_or_default
    from photoqc.pipelines.recipe import RecipeError
    from photoqc.pipelines.score import Scorer

    model_dir, is_default = model_dir_or_default(model)
    if is_default:
        _say(f"note: {DEFAULT_MODEL_NOTE}", "cyan")
    try:
        scorer, warnings = Scorer.from_model(model_dir, options, **kwargs)
    except (BundleError, RecipeError) as exc:
        raise _fail(str(exc)) from None
    _warn(warnings)
    return scorer


@app.command("train")
@recipe_options(*ALL_RECIPE_OPTIONS)
def train_command(
    labels: Path = _existing_file(
        "Labels CSV: `image` plus `label` (good/bad, 1/0, true/false), or `votes_good` + "
        "`votes_total`, or `mos` (with --mos-threshold). Paths relative to the CSV's folder."
    ),
    out: Path = _out("Model folder to write (`model.txt`, `photoqc.json`, curves).", folder=True),
    mos_threshold: float | None = typer.Option(
        None,
        "--mos-threshold",
        help="MOS at which a photo turns good: soft target sigmoid((mos - T) / s).",
    ),
    mos_scale: float = typer.Option(
        DEFAULT_MOS_SCALE, "--mos-scale", help="The s of that sigmoid (or line), MOS units."
    ),
    mos_target: MosTarget = typer.Option(
        MosTarget.sigmoid,
        "--mos-target",
        help="How a MOS becomes a soft target: `sigmoid` sigmoid((mos - T) / s), or `linear` "
        "0.5 + (mos - T) / (2 s), clipped to 0–1 (T = 50, s = 50: MOS / 100).",
    ),
    copies: int = typer.Option(
        0,
        "--copies",
        min=0,
        help="Degraded copies per good photo (noise, JPEG, blur, exposure, colour cast) to "
        "learn defects the photos lack; 0 for none.",
    ),
    no_monotone: bool = typer.Option(
        False,
        "--no-monotone",
        help="Let features act either way (default: more blur, noise, clipping or blocking is "
        "never better).",
    ),
    folds: int = typer.Option(5, "--folds", min=2, help="Cross-validation folds."),
    seed: int = typer.Option(0, "--seed", help="Seed of the folds and of LightGBM's sampling."),
    workers: int = WORKERS_OPTION,
    cache_dir: Path | None = typer.Option(
        None,
        "--cache-dir",
        envvar="PHOTOQC_CACHE_DIR",
        file_okay=False,
        help="Feature cache folder (default `~/.cache/photoqc`).",
    ),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Neither read nor write the feature cache."
    ),
    recipe: RecipeOptions = RecipeOptions(),
) -> None:
    """Train the good/bad classifier on hand labels, cross-validated, into a model folder.

    Features are cached by file content and settings, so retraining is fast. Prints
    ROC-AUC, PR-AUC, log loss and accuracy of stratified k-fold cross-validation and the
    chosen threshold (maximum F1 of "good" on out-of-fold predictions).
    """
    from photoqc.pipelines.augment import AugmentConfig
    from photoqc.pipelines.cache import FeatureCache
    from photoqc.pipelines.labels import LabelsError, read_labels
    from photoqc.pipelines.train import TrainConfig, train

    try:
        parsed = read_labels(
            labels, mos_threshold=mos_threshold, mos_scale=mos_scale, mos_target=mos_target.value
        )
    except LabelsError as exc:
        raise _fail(str(exc)) from None
    config = _resolve_or_fail(recipe)
    cache = None if no_cache else FeatureCache(cache_dir)
    record = {
        "labels_file": labels.name,
        "mos_threshold": mos_threshold,
        "mos_scale": mos_scale,
        "mos_target": mos_target.value,
    }
    with _progress() as progress:
        task = progress.add_task(f"features ({config.segmenter.kind})", total=len(parsed))

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            outcome = train(
                parsed,
                config,
                out,
                TrainConfig(
                    folds=folds,
                    seed=seed,
                    monotone=not no_monotone,
                    augment=AugmentConfig(copies=copies),
                ),
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
    _say(
        f"{t['images']} photos ({t['good']} good, {t['bad']} bad; "
        f"{outcome.from_cache} features from cache); threshold "
        f"{outcome.bundle.threshold:.3f} (max F1); model written to {out}"
    )
    for image, error in outcome.failed[:10]:
        _say(f"  left out {image}: {error}", "red")


@app.command("score")
@recipe_options("weights_dir", "nima_weights", "max_pixels", "batch_size", "offline")
def score_command(
    input: Path = typer.Argument(
        ...,
        help="A folder of photos (recursive) or a CSV with an `image` column.",
        show_default=False,
    ),
    model: Path | None = MODEL_OPTION,
    out: Path = _out("Scores CSV (appended to and resumed)."),
    workers: int = WORKERS_OPTION,
    shap: bool = typer.Option(
        False, "--shap", help="Add a `shap_FEATURE` column per model feature."
    ),
    top: int = typer.Option(3, "--reasons", min=1, help="Most reasons per bad photo."),
    segmenter: SegmenterChoice | None = typer.Option(
        None,
        "--segmenter",
        "-s",
        help="Default: the model's own. Another needs --allow-segmenter-mismatch.",
        show_default=False,
    ),
    allow_segmenter_mismatch: bool = typer.Option(
        False,
        "--allow-segmenter-mismatch",
        help="Score with another segmenter than the model's (or fall back when its weights "
        "are missing); object features then mean something else.",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Start the CSV afresh instead of resuming."
    ),
    recipe: RecipeOptions = RecipeOptions(),
) -> None:
    """Score photos good or bad, with reasons: one CSV row per input, written as it finishes.

    Columns: `image, status, error, p_good, verdict, threshold, reasons, segmenter`,
    provenance (`reasons_json`, `model_sha256`, `recipe`...), every feature, and `shap_...`
    with --shap. If the run is stopped, the same command continues where it left off: no
    row is lost or written twice. Rows written by another model, threshold or feature
    settings are never kept as if they were this run's.
    """
    from photoqc.pipelines.score import score_to_csv

    items = _inputs_or_fail(input)
    recipe = replace(
        recipe,
        segmenter=segmenter.value if segmenter else None,
        allow_segmenter_mismatch=allow_segmenter_mismatch,
    )
    scorer = _scorer_or_fail(model, recipe, with_shap=shap, top=top)
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task(f"scoring ({scorer.config.segmenter.kind})", total=len(items))
        with _output_errors():
            summary = score_to_csv(
                items,
                scorer,
                out,
                workers=workers,
                overwrite=overwrite,
                on_rows=lambda n: progress.advance(task, n),
            )
        progress.update(task, completed=len(items))
    _say(
        f"{out}: {summary.scored} scored now ({summary.good} good, {summary.bad} bad, "
        f"{summary.errors} errors), {summary.already_done} already there from an earlier run, "
        f"in {time.perf_counter() - started:.1f} s"
    )


@app.command("explain")
@recipe_options("weights_dir", "nima_weights", "offline")
def explain_command(
    image: Path = _existing_file("The photo to explain (any format photoqc reads)."),
    model: Path | None = MODEL_OPTION,
    waterfall: Path | None = typer.Option(
        None,
        "--waterfall",
        help="Save a chart (PNG) of the features that pushed the verdict most.",
        dir_okay=False,
    ),
    top: int = typer.Option(5, "--reasons", min=1, help="Most reasons to list."),
    recipe: RecipeOptions = RecipeOptions(),
) -> None:
    """Explain one photo's verdict: probability, reasons, and the features that pushed it."""
    from photoqc.pipelines.explain import ExplainError, explain_image, write_waterfall

    scorer = _scorer_or_fail(model, recipe, top=top)
    try:
        result = explain_image(image, scorer)
    except ExplainError as exc:
        raise _fail(str(exc)) from None
    typer.echo(str(image))
    colour = "green" if result.verdict == "good" else "red"
    console_out = Console()
    console_out.print(
        Text.assemble(
            "verdict: ",
            (result.verdict, f"bold {colour}"),
            f"  p_good {result.p_good:.3f}  (threshold {result.threshold:.3f}, "
            f"segmenter {result.segmenter})",
        ),
        highlight=False,
    )
    if result.verdict == "good":
        typer.echo("no defect stands out")
    elif not result.reasons:
        typer.echo("why not good: no single feature stands out (see the table)")
    else:
        typer.echo("why not good:")
        for i, reason in enumerate(result.reasons, start=1):
            typer.echo(f"  {i}. {reason.text}")
    table = Table("family", "feature", "value", "good photos", "push", title="strongest pushes")
    for push in result.pushes[:8]:
        typical = scorer.good.get(push.spec.name)
        table.add_row(
            push.spec.family,
            push.spec.label,
            push.spec.format(push.value),
            push.spec.format(typical.median) if typical else "",
            f"towards {'good' if push.contribution >= 0 else 'bad'} ({abs(push.contribution):.2f})",
        )
    console_out.print(table)
    if waterfall:
        write_waterfall(result, waterfall)
        typer.echo(f"chart written to {waterfall}")


@app.command("demo")
def demo_command(
    out: Path = typer.Option(
        Path("photoqc-demo"), "--out", "-o", file_okay=False, help="Folder for everything."
    ),
    workers: int = typer.Option(2, "--workers", "-w", min=1, help="Processes in parallel."),
    segmenter: SegmenterChoice = typer.Option(
        SegmenterChoice.fastcut,
        "--segmenter",
        "-s",
        help="`fastcut` needs no weights; `none` is fastest.",
    ),
    crops: int = typer.Option(
        2, "--crops", min=1, help="Crops per source photo (more: bigger set)."
    ),
    no_nima: bool = NO_NIMA_OPTION,
) -> None:
    """A complete offline run: make a labelled set from scikit-image's photos, train, score.

    Clean photos and mild defects are labelled good, severe ones bad (under/over-exposure,
    blown highlights, low contrast, dark corner, defocus and motion blur, sensor noise,
    heavy JPEG, object cut off). Two whole source photos are held out for testing.
    """
    from photoqc.pipelines.demo import DemoConfig, run_demo

    config = DemoConfig(segmenter=segmenter.value, crops_per_photo=crops, nima=not no_nima)
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task("demo", total=None)

        def on_stage(message: str) -> None:
            progress.console.print(Text(message, style="bold"), highlight=False)
            progress.update(task, description=message.split(" (")[0], completed=0, total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = run_demo(out, config, workers=workers, on_stage=on_stage, on_progress=on_progress)
    m = result.outcome.cv.metrics
    _say(
        f"cross-validated ROC-AUC {m['roc_auc_mean']:.3f} ± {m['roc_auc_std']:.3f} on "
        f"{result.counts['train']} training photos"
    )
    _say(
        f"held-out ROC-AUC {result.holdout_roc_auc:.3f} on {result.counts['holdout']} photos "
        "of scenes never seen in training",
        "bold",
    )
    _say(
        f"model: {result.model_dir}  scores: {result.scores_csv}  "
        f"({time.perf_counter() - started:.0f} s)\n"
        f"next: photoqc explain {out}/images/<photo>.jpg --model {result.model_dir}"
    )


@app.command("tune")
def tune_command(
    scores: Path = _existing_file("Scores CSV from `photoqc score`."),
    labels: Path = typer.Option(
        ...,
        "--labels",
        exists=True,
        dir_okay=False,
        show_default=False,
        help="Hand labels for (some of) the scored photos.",
    ),
    model: Path = typer.Option(
        ...,
        "--model",
        "-m",
        file_okay=False,
        show_default=False,
        help="The model folder that made the scores (`--write` updates its threshold).",
    ),
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
    mos_threshold: float | None = typer.Option(
        None, "--mos-threshold", help="For MOS labels: the MOS at which a photo turns good."
    ),
    write: bool = typer.Option(
        False, "--write", help="Store the chosen threshold in the model folder."
    ),
) -> None:
    """Choose the threshold by target precision or by minimum cost, from labelled scores.

    Prints precision, recall and cost for a range of thresholds and the chosen one;
    `--write` stores it in the model (previous thresholds are kept, with date and rule).
    """
    from photoqc.models.bundle import BundleError, load_bundle
    from photoqc.pipelines.labels import LabelsError
    from photoqc.pipelines.tune import (
        TuneError,
        scores_model_warning,
        summary_rows,
        tune,
        write_threshold,
    )

    costs_given = cost_accept_bad is not None and cost_reject_good is not None
    if (target_precision is None) == (not costs_given):
        raise _fail(
            "give either --target-precision P, or both --cost-accept-bad A and "
            "--cost-reject-good R",
            code=2,
        )
    try:
        bundle = load_bundle(model)
    except BundleError as exc:
        raise _fail(str(exc)) from None
    _warn([w for w in [scores_model_warning(scores, bundle)] if w])
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
    scores: Path = _existing_file("Scores CSV from `photoqc score`."),
    out: Path = _out("The HTML file to write."),
    model: Path | None = typer.Option(
        None,
        "--model",
        "-m",
        file_okay=False,
        help="The model that made the scores: verdicts at its current threshold, its "
        "reasons and feature pushes, and its own masks. Without it the CSV is shown as written.",
    ),
    images: ReportImages = typer.Option(
        ReportImages.auto,
        "--images",
        help="`embed` pictures in the HTML, `link` them from a folder `REPORT_files/` beside "
        "it, or `auto` (embed up to 2,000 rows).",
    ),
    overlays: bool = typer.Option(
        True,
        "--overlays/--no-overlays",
        help="Draw the object mask (re-runs the segmenter on each photo).",
    ),
    weights_dir: Path | None = WEIGHTS_DIR_OPTION,
) -> None:
    """Write a self-contained HTML report for moderators: filter, sort, inspect, mark.

    Summary counts; a table with thumbnail, verdict, p_good and reasons, sortable and
    filterable by verdict and by reason; a detail view with the mask overlay and the
    features that pushed the verdict; good/bad marks exported as a labels CSV that
    `photoqc train` reads.
    """
    from photoqc.models.bundle import BundleError
    from photoqc.pipelines.recipe import RecipeError
    from photoqc.pipelines.report import build_report

    with _progress() as progress:
        task = progress.add_task("report", total=None)
        try:
            result = build_report(
                scores,
                out,
                model_dir=model,
                images=images.value,
                overlays=overlays,
                weights_dir=str(weights_dir) if weights_dir else None,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        except (ValueError, BundleError, RecipeError) as exc:
            raise _fail(str(exc)) from None
    for note in result.notes:
        _say(f"note: {note}", "cyan")
    _say(result.threshold_note)
    _say(
        f"wrote {out}: {result.rows} photos ({result.verdicts['good']} good, "
        f"{result.verdicts['bad']} bad, {result.verdicts['error']} errors; "
        f"{result.with_image} with pictures)"
    )


@app.command("serve")
def serve_command(
    model: Path | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Model folder (from `photoqc train`); default: the built-in model.",
        exists=True,
        file_okay=False,
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."
    ),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port to listen on."),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        help="Server processes, each loading the model once (about 1 per 2 cores).",
    ),
    threads: int = typer.Option(
        2, "--threads", min=1, help="Checks run at once in each process (its CPU pool)."
    ),
    queue: int = typer.Option(
        16, "--queue", min=0, help="Checks that may wait per process; more get 503."
    ),
    max_upload_mb: float = typer.Option(
        25.0, "--max-upload-mb", min=0.001, help="Largest upload, MB; larger gets 413 unread."
    ),
    max_pixels: int = typer.Option(
        DEFAULT_MAX_PIXELS,
        "--max-pixels",
        min=1,
        help="Largest photo in pixels, read from the header before decoding (413).",
    ),
    api_key_env: str | None = typer.Option(
        None,
        "--api-key-env",
        help="Name of an environment variable holding the API key that clients must send "
        "as `X-API-Key` (or `Authorization: Bearer`); default: no key.",
    ),
    timeout_s: float = typer.Option(
        10.0, "--timeout-s", min=0.001, help="Seconds a check may take before 504."
    ),
) -> None:
    """Serve the upload check over HTTP: `POST /v1/check`, `/healthz`, `/readyz`,
    `/metrics`, the API schema at `/openapi.json`, and a page at `/`."""
    import os

    import uvicorn

    from photoqc.service.app import CONFIG_ENV, ServeSettings, create_app

    settings = ServeSettings(
        model=str(model) if model else None,
        max_upload_mb=max_upload_mb,
        max_pixels=max_pixels,
        api_key_env=api_key_env,
        timeout_s=timeout_s,
        threads=threads,
        queue=queue,
    )
    if api_key_env and not os.environ.get(api_key_env):
        raise _fail(f"--api-key-env {api_key_env}: that environment variable is empty or unset")
    # uvicorn handles SIGINT/SIGTERM itself (graceful shutdown).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _say(f"photoqc serve: http://{host}:{port}/ ({workers} process(es); model loads first)")
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
    else:
        os.environ[CONFIG_ENV] = settings.to_env()
        uvicorn.run(
            "photoqc.service.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
        )


nima_app = typer.Typer(
    help="NIMA (Neural Image Assessment): import idealo's weights, train your own.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(nima_app, name="nima")


@nima_app.command("import")
def nima_import(
    file: Path = _existing_file(
        "idealo's NIMA MobileNet weights: Keras `.hdf5`/`.h5` or TensorFlow Lite `.tflite`."
    ),
    out: Path = _out("Output `.safetensors`; a `.json` description is written beside it."),
    name: str | None = typer.Option(
        None,
        "--name",
        help="Model name for the feature columns (`nima_NAME_mean`). Default: what the file "
        "is known to be (`technical`, `aesthetic`), else what its file name says.",
    ),
    trained_on: str | None = typer.Option(
        None,
        "--trained-on",
        help="What the weights were trained on (recorded in the JSON); known for idealo's files.",
    ),
    half: bool = typer.Option(
        False, "--half", help="Store the weights as float16: half the size, same scores."
    ),
) -> None:
    """Convert idealo's NIMA weights to photoqc's PyTorch format (safetensors + JSON).

    TFLite kernels are dequantised (int8 x per-channel scale) and their folded batch norm
    kept as a bias; Keras kernels are transposed. The result runs in `photoqc features
    --nima-weights`.
    """
    from photoqc.models.nima_import import NimaImportError
    from photoqc.pipelines.nima_import import import_nima

    try:
        meta = import_nima(file, out, name=name, trained_on=trained_on, half=half)
    except NimaImportError as exc:
        raise _fail(str(exc)) from None
    _say(
        f"wrote {out} and {out.with_suffix('.json').name}: NIMA {meta['name']} "
        f"({meta['backbone']}, trained on {meta['trained_on']}); its features are "
        f"nima_{meta['name']}_mean and nima_{meta['name']}_std"
    )


class NimaBackboneChoice(StrEnum):
    mobilenet_v1 = "mobilenet_v1"
    mobilenet_v2 = "mobilenet_v2"


@nima_app.command("train")
def nima_train(
    ratings: Path = _existing_file(
        "CSV with `image` and either `votes_1`..`votes_10` or `mos` (+ optional `std`)."
    ),
    out: Path = _out(
        "Output folder: checkpoint, `nima_NAME.safetensors`, `metrics.json`.", folder=True
    ),
    init: Path | None = typer.Option(
        None,
        "--init",
        help="Weights to fine-tune (e.g. imported idealo weights). Default: "
        "ImageNet weights for torchvision backbones, else from scratch with a warning.",
        exists=True,
        dir_okay=False,
    ),
    backbone: NimaBackboneChoice = typer.Option(
        NimaBackboneChoice.mobilenet_v1, "--backbone", help="The network under NIMA's head."
    ),
    name: str = typer.Option(
        "custom", "--name", help="Model name (feature columns `nima_NAME_mean`, `nima_NAME_std`)."
    ),
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
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Images per training step."),
    val_fraction: float = typer.Option(
        0.2, "--val-fraction", min=0.0, max=0.9, help="Share of images held out for validation."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, order, crops and flips."),
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
    # The options are named as the config's fields; these few need converting.
    config = NimaTrainConfig.of(
        {
            **locals(),
            "backbone": backbone.value,
            "init": str(init) if init else None,
            "max_steps_per_epoch": max_steps,
            "weights_dir": str(weights_dir) if weights_dir else None,
            "allow_download": not offline,
        }
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
    _say(
        f"validation ({int(m['n'])} images): EMD {m['emd']:.4f}, LCC {m['lcc']:.3f}, "
        f"SRCC {m['srcc']:.3f}; wrote {result.weights}"
    )


if __name__ == "__main__":  # pragma: no cover
    app()
