"""The ``photoqc`` command line: one command per verb.

Each command parses its options, calls one pipeline function and prints what came back.
Options several commands share are declared once, below; those that shape the extraction
recipe reach the pipelines together as :class:`photoqc.assess.recipe.RecipeOptions`.
Every :class:`photoqc.errors.PhotoqcError` becomes one line on stderr and its exit code in
one place (:class:`_Commands`): 0 success; 1 the job could not run; 2 wrong usage; 3 some
rows are errors and ``--fail-on-error`` was given; 130 interrupted (rows kept, resumable).
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.logging import RichHandler
from rich.text import Text
from typer.core import TyperGroup

from photoqc import cli_options as o
from photoqc import terminal
from photoqc.assess.recipe import RecipeOptions
from photoqc.assess.scorer import DEFAULT_TOP_REASONS
from photoqc.errors import EXIT_INTERRUPTED, EXIT_ROWS_FAILED, PhotoqcError
from photoqc.pipelines.batch.outputs import PART_ROWS
from photoqc.pipelines.training.labels import DEFAULT_MOS_SCALE
from photoqc.pipelines.training.nima_config import NimaTrainConfig
from photoqc.pipelines.training.train import TrainConfig
from photoqc.service.settings import ServeSettings
from photoqc.terminal import say, warn


class _Commands(TyperGroup):
    """The one place where errors photoqc can name become a line on stderr and an exit
    code, and an interruption says what was kept."""

    def invoke(self, ctx):
        from photoqc.pipelines.batch.outputs import Interrupted

        try:
            return super().invoke(ctx)
        except PhotoqcError as exc:
            terminal.error(exc.message, exc.hint)
            raise typer.Exit(exc.exit_code) from None
        except Interrupted as stop:
            say(
                f"interrupted: {stop.kept} rows kept in {stop.out}; run the same command again "
                "to go on from there",
                "bold yellow",
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None


app = typer.Typer(
    name="photoqc",
    cls=_Commands,
    help=o.APP_HELP,
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main(verbose: o.Verbose = False, version: o.Version = False) -> None:
    """photoqc: technical quality checks for listing photos."""
    # SIGTERM stops a run the way Ctrl-C does: workers end, written rows are kept and said.
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=terminal.console, show_path=False, show_time=False)],
        force=True,
    )


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _inputs(source: Path, carry: list[str] | None = None):
    """The input items of a folder or CSV (what could not be looked at, said once)."""
    from photoqc.pipelines.batch.inputs import collect_inputs

    found = collect_inputs(source, carry or ())
    warn(found.warnings)
    return found.items


def _resolve(options: RecipeOptions):
    from photoqc.assess.recipe import ExtractConfig

    config, warnings = ExtractConfig.resolve(options)
    warn(warnings)
    return config


def _engine(options: o.EngineOptions):
    """The engine asked for (more local workers than cores are capped, and said so)."""
    return options.build(lambda message: warn([message]))


@app.command()
@o.recipe_options(*o.ALL_RECIPE_OPTIONS)
@o.engine_options
def features(
    input: o.Input,
    out: o.FeaturesOut,
    fail_on_error: o.FailOnError = False,
    engines: o.EngineOptions = o.EngineOptions(),
    recipe: RecipeOptions = RecipeOptions(),
) -> None:
    """Measure quality features of every photo: one row per input file, always.

    Columns: `image, status (ok|error), error, segmenter`, segmentation provenance, then
    every feature (see `photoqc list-features`). Files that cannot be read get
    `status=error`, a message, and empty features; the run goes on.
    """
    from photoqc.pipelines.batch.features import write_features
    from photoqc.pipelines.batch.outputs import check_table_path

    check_table_path(out)
    items = _inputs(input)
    config = _resolve(recipe)
    started = time.perf_counter()
    engine = _engine(engines)
    with terminal.progress() as progress:
        advance = progress.counter(f"features ({config.segmenter.kind})", len(items))
        summary = write_features(items, config, out, engine=engine, on_rows=advance)
    terminal.run_summary(summary, out, time.perf_counter() - started)
    if fail_on_error and summary.errors:
        raise typer.Exit(EXIT_ROWS_FAILED)


@app.command("list-features")
def list_features(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print a Markdown table instead.")
    ] = False,
) -> None:
    """List every feature: what it measures (unit, range), its family and its direction."""
    from photoqc.features import table_groups

    terminal.feature_list(table_groups(), markdown=markdown)


def _scorer(model: Path | None, options: RecipeOptions, **kwargs):
    """The model's whole scoring pipeline (said once when it is the built-in default)."""
    from photoqc.assess.scorer import Scorer
    from photoqc.models.bundle import model_dir_or_default

    model_dir, is_default = model_dir_or_default(model)
    if is_default:
        say(f"note: {o.DEFAULT_MODEL_NOTE}", "cyan")
    scorer, warnings = Scorer.from_model(model_dir, options, **kwargs)
    warn(warnings)
    return scorer


@app.command("train")
@o.recipe_options(*o.ALL_RECIPE_OPTIONS)
def train_command(
    labels: Annotated[
        Path,
        o.existing_file(
            "Labels CSV: `image` plus `label` (good/bad, 1/0, true/false), or `votes_good` + "
            "`votes_total`, or `mos` (with --mos-threshold). Paths relative to the CSV's folder."
        ),
    ],
    out: Annotated[
        Path, o.out("Model folder to write (`model.txt`, `photoqc.json`, curves).", folder=True)
    ],
    mos_threshold: o.MosThreshold = None,
    mos_scale: o.MosScale = DEFAULT_MOS_SCALE,
    mos_target: o.MosTargetOption = o.MosTarget.sigmoid,
    copies: o.Copies = 0,
    copy_kind: o.CopyKindOption = o.CopyKind.defects,
    copy_weight: o.CopyWeight = 1.0,
    no_monotone: o.NoMonotone = False,
    min_short_side: o.MinShortSide = TrainConfig.min_short_side,
    folds: o.Folds = TrainConfig.folds,
    seed: o.TrainSeed = TrainConfig.seed,
    workers: o.Workers = 1,
    cache_dir: o.CacheDir = None,
    no_cache: o.NoCache = False,
    recipe: RecipeOptions = RecipeOptions(),
) -> None:
    """Train the good/bad classifier on hand labels, cross-validated, into a model folder.

    Features are cached by file content and settings, so retraining is fast. Prints
    ROC-AUC, PR-AUC, log loss and accuracy of stratified k-fold cross-validation and the
    chosen threshold (maximum F1 of "good" on out-of-fold predictions).
    """
    from photoqc.pipelines.training.augment import AugmentConfig
    from photoqc.pipelines.training.cache import FeatureCache
    from photoqc.pipelines.training.labels import read_labels
    from photoqc.pipelines.training.train import TrainConfig, train

    parsed = read_labels(
        labels, mos_threshold=mos_threshold, mos_scale=mos_scale, mos_target=mos_target.value
    )
    config = _resolve(recipe)
    record = {
        "labels_file": labels.name,
        "mos_threshold": mos_threshold,
        "mos_scale": mos_scale,
        "mos_target": mos_target.value,
    }
    with terminal.progress() as progress:
        task = progress.add_task(f"features ({config.segmenter.kind})", total=len(parsed))
        outcome = train(
            parsed,
            config,
            out,
            TrainConfig(
                folds=folds,
                seed=seed,
                monotone=not no_monotone,
                augment=AugmentConfig(copies=copies, kind=copy_kind.value, weight=copy_weight),
                min_short_side=min_short_side,
            ),
            cache=None if no_cache else FeatureCache(cache_dir),
            engine=_engine(o.EngineOptions(workers=workers)),
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            training_record=record,
        )
    terminal.training_summary(outcome, out)


def _score(items, scorer, out: Path, engine, **options):
    """Score ``items`` into ``out`` with a progress bar, then say what was done."""
    from photoqc.pipelines.batch.score import score_to_csv

    started = time.perf_counter()
    with terminal.progress() as progress:
        advance = progress.counter(f"scoring ({scorer.config.segmenter.kind})", len(items))
        summary = score_to_csv(items, scorer, out, engine=engine, on_rows=advance, **options)
    terminal.score_summary(summary, out, time.perf_counter() - started)
    return summary


@app.command("score")
@o.recipe_options("segmenter", "weights_dir", "nima_weights", "max_pixels", "batch_size", "offline")
@o.engine_options
def score_command(
    input: o.Input,
    out: o.ScoresOut,
    model: o.Model = None,
    shap: o.Shap = False,
    top: o.ScoreReasons = DEFAULT_TOP_REASONS,
    allow_segmenter_mismatch: o.AllowMismatch = False,
    overwrite: o.Overwrite = False,
    fail_on_error: o.FailOnError = False,
    part_rows: o.PartRows = PART_ROWS,
    carry: o.Carry = None,
    engines: o.EngineOptions = o.EngineOptions(),
    recipe: RecipeOptions = RecipeOptions(),
) -> None:
    """Score photos good or bad, with reasons: one CSV row per input, written as it finishes.

    Columns: `image, status, error, p_good, verdict, threshold, reasons, segmenter`,
    provenance (`reasons_json`, `model_sha256`, `recipe`...), every feature, and `shap_...`
    with --shap. If the run is stopped, the same command continues where it left off: no
    row is lost or written twice. Rows written by another model, threshold or feature
    settings are never kept as if they were this run's. With `--engine ray` the photos are
    scored on a Ray cluster and `--out` is a folder of Parquet parts with the same columns.
    """
    from photoqc.errors import UsageError

    folder = engines.engine == "ray"
    wrong = (out.exists() and not out.is_dir()) or out.suffix == ".csv" if folder else out.is_dir()
    if wrong:
        kind = "a folder of Parquet parts" if folder else "a CSV file"
        raise UsageError(f"--out {out}: the {engines.engine} engine writes {kind}: name one")
    items = _inputs(input, carry)
    recipe = replace(recipe, allow_segmenter_mismatch=allow_segmenter_mismatch)
    scorer = _scorer(model, recipe, with_shap=shap, top=top)
    summary = _score(
        items,
        scorer,
        out,
        _engine(engines),
        overwrite=overwrite,
        folder=folder,
        part_rows=part_rows,
        carry=getattr(items, "carry", ()),
    )
    if fail_on_error and summary.errors:
        raise typer.Exit(EXIT_ROWS_FAILED)


@app.command("rank")
@o.recipe_options("segmenter", "weights_dir", "nima_weights", "max_pixels", "batch_size", "offline")
@o.engine_options
def rank_command(
    input: o.RankInput,
    group_by: o.GroupBy,
    out: o.RankedOut,
    model: o.Model = None,
    engines: o.EngineOptions = o.EngineOptions(),
    recipe: RecipeOptions = RecipeOptions(),
) -> None:
    """Choose each listing's cover photo: rank the photos of every group, flag near-duplicates.

    Good verdicts come before bad ones, then a higher `cover_score` (p_good and the learned
    impression, or NIMA's aesthetic score); near-duplicates go behind every distinct photo,
    error rows last.
    Columns: the group column, `image, rank, is_cover, cover_score, p_good, verdict,
    reasons, why, duplicate_of, status, error`. A manifest is scored into
    `OUT.scores.csv` first (resumed if stopped); a scores CSV is ranked as it is.
    """
    from photoqc.pipelines.rank.run import rank_to_csv

    def score(manifest, scores_csv):
        scorer = _scorer(model, recipe)
        return _score(manifest, scorer, scores_csv, _engine(engines), carry=[group_by])

    outcome = rank_to_csv(input, group_by, out, score=score)
    terminal.rank_summary(outcome.ranking, out, group_by)


@app.command("explain")
@o.recipe_options("weights_dir", "nima_weights", "offline")
def explain_command(
    image: Annotated[Path, o.existing_file("The photo to explain (any format photoqc reads).")],
    model: o.Model = None,
    waterfall: o.Waterfall = None,
    top: o.ExplainReasons = 5,
    recipe: RecipeOptions = RecipeOptions(),
) -> None:
    """Explain one photo's verdict: probability, reasons, and the features that pushed it."""
    from photoqc.pipelines.review.explain import explain_image, write_waterfall

    scorer = _scorer(model, recipe, top=top)
    result = explain_image(image, scorer)
    terminal.explanation(result)
    if waterfall:
        write_waterfall(result, waterfall)
        typer.echo(f"chart written to {waterfall}")


@app.command("demo")
def demo_command(
    out: o.DemoOut = Path("photoqc-demo"),
    workers: o.DemoWorkers = 2,
    segmenter: o.DemoSegmenter = o.SegmenterChoice.fastcut,
    crops: o.DemoCrops = 2,
    no_nima: o.NoNima = False,
) -> None:
    """A complete offline run: make a labelled set from scikit-image's photos, train, score.

    Clean photos and mild defects are labelled good, severe ones bad (under/over-exposure,
    blown highlights, low contrast, dark corner, defocus and motion blur, sensor noise,
    heavy JPEG, object cut off). Two whole source photos are held out for testing.
    """
    from photoqc.pipelines.review.demo import DemoConfig, run_demo

    config = DemoConfig(segmenter=segmenter.value, crops_per_photo=crops, nima=not no_nima)
    started = time.perf_counter()
    with terminal.progress() as progress:
        task = progress.add_task("demo", total=None)

        def on_stage(message: str) -> None:
            progress.console.print(Text(message, style="bold"), highlight=False)
            progress.update(task, description=message.split(" (")[0], completed=0, total=None)

        result = run_demo(
            out,
            config,
            workers=workers,
            on_stage=on_stage,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    terminal.demo_summary(result, out, time.perf_counter() - started)


@app.command("tune")
def tune_command(
    scores: o.TuneScores,
    labels: o.Labels,
    model: o.TunedModel,
    target_precision: o.TargetPrecision = None,
    cost_accept_bad: o.CostAcceptBad = None,
    cost_reject_good: o.CostRejectGood = None,
    mos_threshold: o.MosThreshold = None,
    min_short_side: o.TunedMinShortSide = None,
    write: o.Write = False,
) -> None:
    """Choose the threshold by target precision or by minimum cost, from labelled scores.

    Prints precision, recall and cost for a range of thresholds and the chosen one;
    `--write` stores it in the model (previous thresholds are kept, with date and rule).
    """
    from photoqc.models.bundle import load_bundle
    from photoqc.pipelines.review import tune as tuning

    bundle = load_bundle(model)
    rule = (target_precision, cost_accept_bad, cost_reject_good)
    if min_short_side is not None and all(v is None for v in rule):
        typer.echo(f"minimum short side {min_short_side} px (was {bundle.min_short_side})")
    else:
        tuning.check_rule(*rule, names=o.TUNE_FLAGS)
        joined, table, choice = tuning.tune(
            scores,
            labels,
            target_precision=target_precision,
            cost_accept_bad=None if target_precision is not None else cost_accept_bad,
            cost_reject_good=None if target_precision is not None else cost_reject_good,
            mos_threshold=mos_threshold,
            model=bundle,
            names=o.TUNE_FLAGS,
        )
        terminal.loud(tuning.tuning_warnings(scores, joined, bundle))
        rows = tuning.summary_rows(table, choice.threshold)
        terminal.threshold_table(rows, len(joined), choice.threshold)
        typer.echo(f"chosen threshold {choice.threshold:.6f} by {choice.rule}")
        if write:
            tuning.write_threshold(model, choice.threshold, choice.rule, n_photos=len(joined))
    if write and min_short_side is not None:
        tuning.write_min_short_side(model, min_short_side)
    if write:
        typer.echo(f"written to {model / 'photoqc.json'} (earlier thresholds kept in its history)")


@app.command("report")
def report_command(
    scores: Annotated[
        Path,
        o.existing_file("Scores CSV from `photoqc score`, or a ranked CSV from `photoqc rank`."),
    ],
    out: Annotated[Path, o.out("The HTML file to write.")],
    model: o.ReportModel = None,
    images: o.ReportImagesOption = o.ReportImages.auto,
    overlays: o.Overlays = True,
    weights_dir: o.WeightsDir = None,
) -> None:
    """Write a self-contained HTML report for moderators: filter, sort, inspect, mark.

    Summary counts; a table with thumbnail, verdict, p_good and reasons, sortable and
    filterable by verdict and by reason; a detail view with the mask overlay and the
    features that pushed the verdict; good/bad marks exported as a labels CSV that
    `photoqc train` reads. A ranked CSV (`photoqc rank`) gets one row per listing instead:
    its photos in rank order, the cover marked, with reasons and why.
    """
    from photoqc.pipelines.review.report import build_report

    with terminal.progress() as progress:
        task = progress.add_task("report", total=None)
        result = build_report(
            scores,
            out,
            model_dir=model,
            images=images.value,
            overlays=overlays,
            weights_dir=str(weights_dir) if weights_dir else None,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    for note in result.notes:
        say(f"note: {note}", "cyan")
    say(result.threshold_note)
    say(
        f"wrote {out}: {result.rows} photos ({result.verdicts['good']} good, "
        f"{result.verdicts['bad']} bad, {result.verdicts['error']} errors; "
        f"{result.with_image} with pictures)"
    )


@app.command("serve")
def serve_command(
    model: o.Model = None,
    host: o.Host = "127.0.0.1",
    port: o.Port = 8000,
    workers: o.ServeWorkers = 1,
    threads: o.Threads = ServeSettings.threads,
    queue: o.Queue = ServeSettings.queue,
    max_upload_mb: o.MaxUploadMb = ServeSettings.max_upload_mb,
    max_pixels: o.MaxPixels = None,
    api_key_env: o.ApiKeyEnv = None,
    timeout_s: o.TimeoutS = ServeSettings.timeout_s,
    read_timeout_s: o.ReadTimeoutS = ServeSettings.read_timeout_s,
    max_photos: o.MaxPhotos = ServeSettings.max_photos,
    nima_batch_ms: o.NimaBatchMs = ServeSettings.nima_batch_ms,
) -> None:
    """Serve the upload check over HTTP: `POST /v1/check`, `POST /v1/rank` (a listing's
    photos in cover order), `/healthz`, `/readyz`, `/metrics`, the API schema at
    `/openapi.json`, and a page at `/`."""
    from photoqc.service.launch import serve

    settings = ServeSettings(
        model=str(model) if model else None,
        max_upload_mb=max_upload_mb,
        max_pixels=max_pixels or ServeSettings.max_pixels,
        api_key_env=api_key_env,
        timeout_s=timeout_s,
        threads=threads,
        queue=queue,
        read_timeout_s=read_timeout_s,
        max_photos=max_photos,
        nima_batch_ms=nima_batch_ms,
    )
    settings.api_key()  # an unset key variable: said here, before anything starts
    if model is not None:
        from photoqc.models.bundle import load_bundle

        load_bundle(model)  # a wrong folder: one line here, not a failed start-up
    say(f"photoqc serve: http://{host}:{port}/ ({workers} process(es); model loads first)")
    serve(settings, host=host, port=port, workers=workers)


nima_app = typer.Typer(
    help="NIMA (Neural Image Assessment): import idealo's weights, train your own.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(nima_app, name="nima")


@nima_app.command("import")
def nima_import(
    file: o.NimaFile,
    out: o.NimaOut,
    name: o.NimaName = None,
    trained_on: o.TrainedOn = None,
    half: o.Half = False,
) -> None:
    """Convert idealo's NIMA weights to photoqc's PyTorch format (safetensors + JSON).

    TFLite kernels are dequantised (int8 x per-channel scale) and their folded batch norm
    kept as a bias; Keras kernels are transposed. The result runs in `photoqc features
    --nima-weights`.
    """
    from photoqc.pipelines.training.nima_import import import_nima

    meta = import_nima(file, out, name=name, trained_on=trained_on, half=half)
    say(
        f"wrote {out} and {out.with_suffix('.json').name}: NIMA {meta['name']} "
        f"({meta['backbone']}, trained on {meta['trained_on']}); its features are "
        f"nima_{meta['name']}_mean and nima_{meta['name']}_std"
    )


@nima_app.command("train")
def nima_train(
    ratings: o.Ratings,
    out: o.NimaTrainOut,
    init: o.Init = None,
    backbone: o.Backbone = o.NimaBackboneChoice(NimaTrainConfig.backbone),
    name: o.TrainedName = NimaTrainConfig.name,
    mos_range: o.MosRange = (1.0, 10.0),
    epochs_head: o.EpochsHead = NimaTrainConfig.epochs_head,
    epochs_all: o.EpochsAll = NimaTrainConfig.epochs_all,
    lr_head: o.LrHead = NimaTrainConfig.lr_head,
    lr_all: o.LrAll = NimaTrainConfig.lr_all,
    batch_size: o.StepBatch = NimaTrainConfig.batch_size,
    val_fraction: o.ValFraction = NimaTrainConfig.val_fraction,
    seed: o.NimaSeed = NimaTrainConfig.seed,
    max_steps: o.MaxSteps = None,
    restart: o.Restart = False,
    weights_dir: o.WeightsDir = None,
    offline: o.Offline = False,
) -> None:
    """Train or fine-tune NIMA with the EMD loss, in two stages (head, then all layers).

    Score distributions come from the votes, or from `mos`/`std` as a discretised normal
    on the 1..10 scale. A checkpoint is written every epoch; running the same command
    again resumes. At the end LCC, SRCC and EMD on the validation split are printed and
    stored in the weights' JSON and `metrics.json`.
    """
    from photoqc.pipelines.training.nima_train import NimaTrainConfig, read_ratings, train_nima

    data = read_ratings(ratings, mos_range=mos_range)
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
    with terminal.nima_training() as (on_step, on_epoch):
        result = train_nima(data, out, config, restart=restart, on_step=on_step, on_epoch=on_epoch)
    m = result.metrics
    say(
        f"validation ({int(m['n'])} images): EMD {m['emd']:.4f}, LCC {m['lcc']:.3f}, "
        f"SRCC {m['srcc']:.3f}; wrote {result.weights}"
    )


if __name__ == "__main__":  # pragma: no cover
    app()
