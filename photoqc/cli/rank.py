"""``photoqc rank``: each listing's cover photo, near-duplicates flagged."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from photoqc import terminal
from photoqc.assess.recipe import RecipeOptions
from photoqc.cli import common
from photoqc.cli.model_options import Model
from photoqc.cli.options import (
    SCORING_RECIPE_OPTIONS,
    EngineOptions,
    engine_options,
    option,
    out,
    recipe_options,
)
from photoqc.terminal import say

RankInput = Annotated[
    Path,
    typer.Argument(
        show_default=False,
        help="A CSV (or Parquet) with `image` and the group column, to score; or a scores CSV "
        "written by `photoqc score MANIFEST --carry COLUMN`, ranked without scoring again.",
    ),
]
GroupBy = Annotated[
    str,
    option(
        "--group-by",
        show_default=False,
        help="The column saying which photos belong to one listing (e.g. `listing_id`).",
    ),
]
RankedOut = Annotated[
    Path, out("Ranked CSV, one row per input photo; the scores go beside it (`OUT.scores.csv`).")
]


@recipe_options(*SCORING_RECIPE_OPTIONS)
@engine_options
def rank(
    input: RankInput,
    group_by: GroupBy,
    out: RankedOut,
    model: Model = None,
    engines: EngineOptions = EngineOptions(),
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
        scorer = common.scorer(model, recipe)
        return common.score(manifest, scorer, scores_csv, common.engine(engines), carry=[group_by])

    outcome = rank_to_csv(input, group_by, out, score=score)
    if outcome.scoring is None:
        say(
            f"note: {input} already holds scores (status, p_good, verdict): ranked from them "
            "as they are, nothing scored again (give a manifest of `image` and "
            f"`{group_by}` alone to score afresh)",
            "cyan",
        )
    terminal.rank_summary(outcome.ranking, out, group_by)


COMMANDS = {"rank": rank}
