"""``photoqc features``, ``photoqc list-features`` and ``photoqc score``: measure or score
every photo of a folder or manifest into a table, one row per input, resumably."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from photoqc import terminal
from photoqc.assess.recipe import RecipeOptions
from photoqc.assess.scorer import DEFAULT_TOP_REASONS
from photoqc.cli import common
from photoqc.cli.model_options import Model, ModelSha256
from photoqc.cli.options import (
    ALL_RECIPE_OPTIONS,
    SCORING_RECIPE_OPTIONS,
    EngineOptions,
    FailOnError,
    Input,
    engine_options,
    option,
    out,
    recipe_options,
)
from photoqc.errors import EXIT_ROWS_FAILED
from photoqc.pipelines.batch.outputs import PART_ROWS

FeaturesOut = Annotated[Path, out("Output table: `.parquet` or `.csv`.")]
ScoresOut = Annotated[
    Path,
    out(
        "Scores CSV (appended to and resumed), or `-` for standard output; with --engine ray, "
        "a folder of Parquet parts.",
        folder=None,
    ),
]
Carry = Annotated[
    list[str] | None,
    option(
        "--carry",
        show_default=False,
        help="A column of the input manifest to copy into every output row, after `image` "
        "(e.g. `--carry listing_id`, for `photoqc rank`); give it once per column.",
    ),
]
PartRows = Annotated[
    int,
    option(
        "--part-rows",
        min=1,
        help="With --engine ray: rows per Parquet part of --out (a killed run loses at most "
        "the rows not yet in a part; the same command scores them again).",
    ),
]
Overwrite = Annotated[bool, option("--overwrite", help="Start the CSV afresh instead of resuming.")]
Shap = Annotated[bool, option("--shap", help="Add a `shap_FEATURE` column per model feature.")]
ScoreReasons = Annotated[int, option("--reasons", min=1, help="Most reasons per bad photo.")]
AllowMismatch = Annotated[
    bool,
    option(
        "--allow-segmenter-mismatch",
        help="Score with another segmenter than the model's (or fall back when its weights "
        "are missing); object features then mean something else.",
    ),
]


@recipe_options(*ALL_RECIPE_OPTIONS)
@engine_options
def features(
    input: Input,
    out: FeaturesOut,
    fail_on_error: FailOnError = False,
    engines: EngineOptions = EngineOptions(),
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
    items = common.inputs(input)
    config = common.resolve(recipe)
    started = time.perf_counter()
    engine = common.engine(engines)
    with terminal.progress() as progress:
        advance = progress.counter(f"features ({config.segmenter.kind})", len(items))
        summary = write_features(items, config, out, engine=engine, on_rows=advance)
    terminal.run_summary(summary, out, time.perf_counter() - started)
    common.said_where(engine)
    if fail_on_error and summary.errors:
        raise typer.Exit(EXIT_ROWS_FAILED)


def list_features(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print a Markdown table instead.")
    ] = False,
) -> None:
    """List every feature: what it measures (unit, range), its family and its direction."""
    from photoqc.features import table_groups

    terminal.feature_list(table_groups(), markdown=markdown)


@recipe_options(*SCORING_RECIPE_OPTIONS)
@engine_options
def score(
    input: Input,
    out: ScoresOut,
    model: Model = None,
    model_sha256: ModelSha256 = None,
    shap: Shap = False,
    top: ScoreReasons = DEFAULT_TOP_REASONS,
    allow_segmenter_mismatch: AllowMismatch = False,
    overwrite: Overwrite = False,
    fail_on_error: FailOnError = False,
    part_rows: PartRows = PART_ROWS,
    carry: Carry = None,
    engines: EngineOptions = EngineOptions(),
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
    import sys
    import tempfile

    from photoqc.errors import UsageError

    folder = engines.engine == "ray"
    to_stdout = str(out) == "-"
    if to_stdout and folder:
        raise UsageError("--out -: the ray engine writes a folder of Parquet parts: name one")
    wrong = (out.exists() and not out.is_dir()) or out.suffix == ".csv" if folder else out.is_dir()
    if wrong:
        kind = "a folder of Parquet parts" if folder else "a CSV file"
        raise UsageError(f"--out {out}: the {engines.engine} engine writes {kind}: name one")
    if not folder and not to_stdout and out.suffix.lower() != ".csv":
        raise UsageError(
            f"--out {out}: score writes a CSV table: name a .csv file, or - for standard "
            "output (`photoqc check --json` prints JSON lines)"
        )
    scratch = tempfile.TemporaryDirectory(prefix="photoqc-score-") if to_stdout else None
    if scratch is not None:
        out = Path(scratch.name) / "scores.csv"
    items = common.inputs(input, carry)
    recipe = replace(recipe, allow_segmenter_mismatch=allow_segmenter_mismatch)
    scorer = common.scorer(model, recipe, with_shap=shap, top=top, model_sha256=model_sha256)
    summary = common.score(
        items,
        scorer,
        out,
        common.engine(engines),
        overwrite=overwrite,
        folder=folder,
        part_rows=part_rows,
        carry=getattr(items, "carry", ()),
    )
    if scratch is not None:
        with open(out, encoding="utf-8", newline="") as table:
            sys.stdout.write(table.read())
        sys.stdout.flush()
        scratch.cleanup()
    if fail_on_error and summary.errors:
        raise typer.Exit(EXIT_ROWS_FAILED)


CheckPhotos = Annotated[
    list[Path],
    typer.Argument(show_default=False, help="One or more photos (files) to judge."),
]
Json = Annotated[
    bool,
    option(
        "--json",
        help="One JSON object per photo and line: the object `POST /v1/check` answers "
        '(with `image`), or `{"image", "error": {"code", "message"}}`.',
    ),
]


@recipe_options(*SCORING_RECIPE_OPTIONS)
def check(
    photos: CheckPhotos,
    model: Model = None,
    model_sha256: ModelSha256 = None,
    json_lines: Json = False,
    top: ScoreReasons = DEFAULT_TOP_REASONS,
    fail_on_error: FailOnError = False,
    recipe: RecipeOptions = RecipeOptions(),
) -> None:
    """Judge a few photos and print each verdict, p_good and reasons (nothing written).

    `photoqc check sofa.jpg` answers in a second or two; `--json` prints the record the
    HTTP service answers, a line a photo, for scripts. For folders and manifests, with a
    resumable table, use `photoqc score`.
    """
    import json

    from photoqc.assess.answer import answer
    from photoqc.assess.items import InputItem

    scorer = common.scorer(model, recipe, top=top, model_sha256=model_sha256)
    errors = 0
    with scorer:
        for photo in photos:
            _, record = answer(scorer, InputItem(str(photo), photo))
            errors += "error" in record
            if json_lines:
                typer.echo(json.dumps(record, allow_nan=False))
            else:
                terminal.check_answer(record)
    if fail_on_error and errors:
        raise typer.Exit(EXIT_ROWS_FAILED)


COMMANDS = {
    "features": features,
    "list-features": list_features,
    "score": score,
    "check": check,
}
