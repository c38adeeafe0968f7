"""What several verbs do the same way: read the inputs, resolve the recipe, build the
engine and the scorer, score with a progress bar. Each says on the terminal what it
changed or fell back on."""

from __future__ import annotations

import time
from pathlib import Path

from photoqc import terminal
from photoqc.assess.recipe import RecipeOptions
from photoqc.cli.options import EngineOptions
from photoqc.terminal import say, warn

DEFAULT_MODEL_NOTE = (
    "using photoqc's built-in default model (trained on real phone photos of everyday "
    "scenes scored by people, CLIVE). For your own domain, train on your hand labels and "
    "pass --model."
)


def inputs(source: Path, carry: list[str] | None = None):
    """The input items of a folder or CSV (what could not be looked at, said once)."""
    from photoqc.pipelines.batch.inputs import collect_inputs

    found = collect_inputs(source, carry or ())
    warn(found.warnings)
    return found.items


def resolve(options: RecipeOptions):
    """The recipe the options ask for (fallbacks said once)."""
    from photoqc.assess.recipe import ExtractConfig

    config, warnings = ExtractConfig.resolve(options)
    warn(warnings)
    return config


def engine(options: EngineOptions):
    """The engine asked for (more local workers than cores are capped, and said so)."""
    return options.build(lambda message: warn([message]))


def scorer(model: Path | None, options: RecipeOptions, **kwargs):
    """The model's whole scoring pipeline (said once when it is the built-in default)."""
    from photoqc.assess.scorer import Scorer
    from photoqc.models.bundle import model_dir_or_default

    model_dir, is_default = model_dir_or_default(model)
    if is_default:
        say(f"note: {DEFAULT_MODEL_NOTE}", "cyan")
    built, warnings = Scorer.from_model(model_dir, options, **kwargs)
    warn(warnings)
    return built


def score(items, scorer, out: Path, engine, **options):
    """Score ``items`` into ``out`` with a progress bar, then say what was done."""
    from photoqc.pipelines.batch.score import score_to_csv

    started = time.perf_counter()
    with terminal.progress() as progress:
        advance = progress.counter(f"scoring ({scorer.config.segmenter.kind})", len(items))
        summary = score_to_csv(items, scorer, out, engine=engine, on_rows=advance, **options)
    terminal.score_summary(summary, out, time.perf_counter() - started)
    said_where(engine)
    return summary


def said_where(engine) -> None:
    """Say where the run's rows were made, when there is something to say: the worker
    processes a local run chose for itself, the nodes and actors of a Ray run."""
    where = engine.where()
    if where:
        say(f"note: {where}", "cyan")
