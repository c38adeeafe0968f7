"""``photoqc train``: the good/bad classifier from hand labels, cross-validated, into a
model folder."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from photoqc import terminal
from photoqc.assess.recipe import RecipeOptions
from photoqc.cli import common
from photoqc.cli.model_options import MosThreshold
from photoqc.cli.options import (
    ALL_RECIPE_OPTIONS,
    EngineOptions,
    engine_options,
    existing_file,
    option,
    out,
    recipe_options,
)
from photoqc.errors import EXIT_INTERRUPTED
from photoqc.pipelines.training.config import TrainConfig
from photoqc.pipelines.training.labels import DEFAULT_MOS_SCALE, MOS_TARGETS
from photoqc.pipelines.training.progress import Stages
from photoqc.synthetic import COPY_KINDS, copy_kinds_help

MosTarget = StrEnum("MosTarget", [(t, t) for t in MOS_TARGETS])
CopyKind = StrEnum("CopyKind", [(k, k) for k in COPY_KINDS])
"""``--copy-kind`` values, from the copy kinds' registry."""

MosScale = Annotated[
    float, option("--mos-scale", help="The s of that sigmoid (or line), MOS units.")
]
MosTargetOption = Annotated[
    MosTarget,
    option(
        "--mos-target",
        help="How a MOS becomes a soft target: `sigmoid` sigmoid((mos - T) / s), or `linear` "
        "0.5 + (mos - T) / (2 s), clipped to 0–1 (T = 50, s = 50: MOS / 100).",
    ),
]
Copies = Annotated[
    int,
    option(
        "--copies",
        min=0,
        help="Degraded copies per good photo, of the --copy-kind (the default model is "
        "trained with --copies 8 --copy-kind mixed), to learn defects the photos lack; 0 "
        "for none.",
    ),
]
CopyKindOption = Annotated[
    CopyKind,
    option("--copy-kind", help=f"The copies to make: {copy_kinds_help()}."),
]
CopyWeight = Annotated[
    float,
    option("--copy-weight", min=0.0, help="Training weight of a copy (a real photo weighs 1)."),
]
NoMonotone = Annotated[
    bool,
    option(
        "--no-monotone",
        help="Let features act either way (default: more blur, noise, clipping or blocking is "
        "never better).",
    ),
]
MinShortSide = Annotated[
    int,
    option(
        "--min-short-side",
        min=0,
        help="Photos whose short side has fewer pixels are bad (too small to publish), "
        "whatever the classifier says; recorded in the model.",
    ),
]
Folds = Annotated[int, option("--folds", min=2, help="Cross-validation folds.")]
TrainSeed = Annotated[int, option("--seed", help="Seed of the folds and of LightGBM's sampling.")]
CacheDir = Annotated[
    Path | None,
    option(
        "--cache-dir",
        envvar="PHOTOQC_CACHE_DIR",
        file_okay=False,
        help="Feature cache folder (default `~/.cache/photoqc`).",
    ),
]
NoCache = Annotated[bool, option("--no-cache", help="Neither read nor write the feature cache.")]


@engine_options
@recipe_options(*ALL_RECIPE_OPTIONS)
def train(
    labels: Annotated[
        Path,
        existing_file(
            "Labels CSV: `image` plus `label` (good/bad, 1/0, true/false), or `votes_good` + "
            "`votes_total`, or `mos` (with --mos-threshold). Paths relative to the CSV's folder."
        ),
    ],
    out: Annotated[
        Path, out("Model folder to write (`model.txt`, `photoqc.json`, curves).", folder=True)
    ],
    mos_threshold: MosThreshold = None,
    mos_scale: MosScale = DEFAULT_MOS_SCALE,
    mos_target: MosTargetOption = MosTarget.sigmoid,
    copies: Copies = 0,
    copy_kind: CopyKindOption = CopyKind.defects,
    copy_weight: CopyWeight = 1.0,
    no_monotone: NoMonotone = False,
    min_short_side: MinShortSide = TrainConfig.min_short_side,
    folds: Folds = TrainConfig.folds,
    seed: TrainSeed = TrainConfig.seed,
    cache_dir: CacheDir = None,
    no_cache: NoCache = False,
    recipe: RecipeOptions = RecipeOptions(),
    engines: EngineOptions = EngineOptions(),
) -> None:
    """Train the good/bad classifier on hand labels, cross-validated, into a model folder.

    Features are cached by file content and settings as they are measured, so retraining
    (or running again after Ctrl-C) measures nothing twice; `--engine ray` measures them
    on a Ray cluster, as `score --engine ray` does, into the same cache. Each stage says
    how far it is (a line at least every 10 s when standard error is not a terminal).
    Prints ROC-AUC, PR-AUC, log loss and accuracy of stratified k-fold cross-validation,
    the chosen threshold (maximum F1 of "good" on out-of-fold predictions) and each
    stage's time.
    """
    from photoqc.pipelines.training.augment import AugmentConfig
    from photoqc.pipelines.training.cache import FeatureCache
    from photoqc.pipelines.training.labels import read_labels
    from photoqc.pipelines.training.train import train as train_model

    parsed = read_labels(
        labels, mos_threshold=mos_threshold, mos_scale=mos_scale, mos_target=mos_target.value
    )
    config = common.resolve(recipe)
    record = {
        "labels_file": labels.name,
        "mos_threshold": mos_threshold,
        "mos_scale": mos_scale,
        "mos_target": mos_target.value,
    }
    cache = None if no_cache else FeatureCache(cache_dir)
    engine = common.engine(engines)
    try:
        with terminal.training_stages() as listener:
            outcome = train_model(
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
                cache=cache,
                engine=engine,
                training_record=record,
                stages=Stages(listener),
            )
    except KeyboardInterrupt:
        kept = (
            f"the features measured so far are kept in {cache.path}; run the same command "
            "again to go on from there"
            if cache
            else "nothing was kept (--no-cache)"
        )
        terminal.say(f"interrupted: training stopped; {kept}", "bold yellow")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    common.said_where(engine)
    terminal.training_summary(outcome, out)


COMMANDS = {"train": train}
