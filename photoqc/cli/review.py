"""``photoqc explain``, ``photoqc tune`` and ``photoqc report``: what a person reads of a
model's verdicts — one photo's reasons, the threshold's trade-off, the moderator report."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from photoqc import terminal
from photoqc.assess.recipe import RecipeOptions
from photoqc.cli import common
from photoqc.cli.model_options import Model, MosThreshold
from photoqc.cli.options import (
    WeightsDir,
    existing_file,
    option,
    out,
    recipe_options,
)
from photoqc.terminal import say


class ReportImages(StrEnum):
    auto = "auto"
    embed = "embed"
    link = "link"


TUNE_FLAGS = {
    "target_precision": "--target-precision",
    "cost_accept_bad": "--cost-accept-bad",
    "cost_reject_good": "--cost-reject-good",
    "mos_threshold": "--mos-threshold",
}

ExplainReasons = Annotated[int, option("--reasons", min=1, help="Most reasons to list.")]
Waterfall = Annotated[
    Path | None,
    option(
        "--waterfall",
        dir_okay=False,
        help="Save a chart (PNG) of the features that pushed the verdict most.",
    ),
]
TunedModel = Annotated[
    Path | None,
    option(
        "--model",
        "-m",
        file_okay=False,
        show_default=False,
        help="The model folder that made the scores (`--write` updates its threshold). "
        "Default: the built-in model (written only to a copy: --out).",
    ),
]
TunedOut = Annotated[
    Path | None,
    option(
        "--out",
        "-o",
        file_okay=False,
        show_default=False,
        help="With --write: write the tuned model to this new folder (a copy of --model), "
        "leaving the model itself as it is. Needed to tune the built-in model.",
    ),
]
TunedMinShortSide = Annotated[
    int | None,
    option(
        "--min-short-side",
        min=0,
        show_default=False,
        help="Change the model's minimum short side (pixels) for publishing; with --write, "
        "stored in the model (alone, it needs no threshold rule).",
    ),
]
Labels = Annotated[
    Path,
    option(
        "--labels",
        exists=True,
        dir_okay=False,
        show_default=False,
        help="Hand labels for (some of) the scored photos.",
    ),
]
TuneScores = Annotated[
    Path,
    existing_file(
        "Scores CSV from `photoqc score` on labelled photos the model never saw, or the "
        "model's own `cv_predictions.csv` (out-of-fold: the honest choice for its training "
        "labels)."
    ),
]
TargetPrecision = Annotated[
    float | None,
    option(
        "--target-precision",
        min=0.0,
        max=1.0,
        help="Lowest threshold whose precision (share of accepted photos that are good) "
        "is at least P.",
    ),
]
CostAcceptBad = Annotated[
    float | None, option("--cost-accept-bad", min=0.0, help="Cost of publishing one bad photo.")
]
CostRejectGood = Annotated[
    float | None, option("--cost-reject-good", min=0.0, help="Cost of rejecting one good photo.")
]
Write = Annotated[bool, option("--write", help="Store the chosen threshold in the model folder.")]
ReportModel = Annotated[
    Path | None,
    option(
        "--model",
        "-m",
        file_okay=False,
        help="The model that made the scores: verdicts at its current threshold, its "
        "reasons and feature pushes, and its own masks. Without it the CSV is shown as written.",
    ),
]
ReportImagesOption = Annotated[
    ReportImages,
    option(
        "--images",
        help="`embed` pictures in the HTML, `link` them from a folder `REPORT_files/` beside "
        "it, or `auto` (embed up to 2,000 rows).",
    ),
]
Overlays = Annotated[
    bool,
    option(
        "--overlays/--no-overlays",
        help="Draw the object mask (re-runs the segmenter on each photo).",
    ),
]


@recipe_options("weights_dir", "nima_weights", "offline")
def explain(
    image: Annotated[Path, existing_file("The photo to explain (any format photoqc reads).")],
    model: Model = None,
    waterfall: Waterfall = None,
    top: ExplainReasons = 5,
    recipe: RecipeOptions = RecipeOptions(),
) -> None:
    """Explain one photo's verdict: probability, reasons, and the features that pushed it."""
    from photoqc.pipelines.review.explain import explain_image, write_waterfall

    scorer = common.scorer(model, recipe, top=top)
    result = explain_image(image, scorer)
    terminal.explanation(result)
    if waterfall:
        write_waterfall(result, waterfall)
        typer.echo(f"chart written to {waterfall}")


def tune(
    scores: TuneScores,
    labels: Labels,
    model: TunedModel = None,
    target_precision: TargetPrecision = None,
    cost_accept_bad: CostAcceptBad = None,
    cost_reject_good: CostRejectGood = None,
    mos_threshold: MosThreshold = None,
    min_short_side: TunedMinShortSide = None,
    write: Write = False,
    out: TunedOut = None,
) -> None:
    """Choose the threshold by target precision or by minimum cost, from labelled scores.

    Prints precision, recall and cost for a range of thresholds and the chosen one;
    `--write` stores it in the model (previous thresholds are kept, with date and rule),
    or, with `--out DIR`, in a copy of it there. The built-in model is tuned by default,
    and only ever written to a copy.
    """
    import shutil

    from photoqc.errors import UsageError
    from photoqc.models.bundle import default_model_dir, load_bundle, model_dir_or_default
    from photoqc.pipelines.review import tune as tuning

    model, is_default = model_dir_or_default(model)
    say(f"tuning {'the built-in model' if is_default else 'the model'} in {model}", "cyan")
    if out is not None and not write:
        raise UsageError("--out writes a tuned copy: give --write too")
    if write and out is None and (is_default or model.resolve() == default_model_dir().resolve()):
        raise UsageError(
            "--write would change the built-in model inside the installed package: write a "
            "tuned copy with --out DIR, then use it with --model DIR"
        )
    bundle = load_bundle(model)
    if write and out is not None:
        if out.exists():
            raise UsageError(f"--out {out}: already exists; name a new folder")
        shutil.copytree(model, out)
        model = out
    rule = (target_precision, cost_accept_bad, cost_reject_good)
    if min_short_side is not None and all(v is None for v in rule):
        typer.echo(f"minimum short side {min_short_side} px (was {bundle.min_short_side})")
    else:
        tuning.check_rule(*rule, names=TUNE_FLAGS)
        joined, table, choice = tuning.tune(
            scores,
            labels,
            target_precision=target_precision,
            cost_accept_bad=None if target_precision is not None else cost_accept_bad,
            cost_reject_good=None if target_precision is not None else cost_reject_good,
            mos_threshold=mos_threshold,
            model=bundle,
            names=TUNE_FLAGS,
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


def report(
    scores: Annotated[
        Path,
        existing_file("Scores CSV from `photoqc score`, or a ranked CSV from `photoqc rank`."),
    ],
    out: Annotated[Path, out("The HTML file to write.")],
    model: ReportModel = None,
    images: ReportImagesOption = ReportImages.auto,
    overlays: Overlays = True,
    weights_dir: WeightsDir = None,
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


COMMANDS = {"explain": explain, "tune": tune, "report": report}
