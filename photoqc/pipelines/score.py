"""Score photos with a trained model (``photoqc score``), resumably.

Each row: ``image, status, error, p_good, verdict, threshold, reasons, segmenter``,
provenance, every feature, and with ``--shap`` a ``shap_<feature>`` column per model
feature (log-odds of "good"). Rows are appended to the CSV as their batch finishes and the
file is flushed to disk, so a run that is killed loses at most the batches in flight.
Started again with the same arguments it reads which images are already in the file
(dropping a half-written last line) and scores only the rest: no row lost, none twice.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from photoqc.models.bundle import ModelBundle, load_bundle
from photoqc.models.explain import Reason, reasons_json, reasons_text, top_reasons
from photoqc.pipelines.extract import STATUS_OK, FeatureExtractor, remaining
from photoqc.pipelines.inputs import InputItem
from photoqc.pipelines.outputs import Interrupted, OutputLock, ResumableCsv
from photoqc.pipelines.parallel import batch_size_for, batched, in_input_order, run_batches
from photoqc.pipelines.recipe import ExtractConfig, RecipeOptions

logger = logging.getLogger(__name__)

SCORE_COLUMNS = (
    "image",
    "status",
    "error",
    "p_good",
    "verdict",
    "threshold",
    "reasons",
    "segmenter",
)
PROVENANCE_COLUMNS = (
    "segmenter_weights",
    "object_class",
    "object_score",
    "nima",
    "reasons_json",
    "model_sha256",
    "recipe",
)
"""After the score columns: where the row came from, and the reasons as structured data."""

RUN_COLUMNS = ("model_sha256", "threshold", "recipe")
"""What every row of one scores CSV must share: the rows of a resumed run are kept only
when they were scored by the same model, at the same threshold, from the same recipe."""

RUN_WORDS = {
    "model_sha256": "another model (sha256)",
    "threshold": "another threshold",
    "recipe": "other feature settings (recipe)",
}

DEFAULT_TOP_REASONS = 3


def score_columns(config: ExtractConfig, bundle: ModelBundle, with_shap: bool) -> list[str]:
    """Column order of a scores CSV."""
    columns = [*SCORE_COLUMNS, *PROVENANCE_COLUMNS, *config.feature_names()]
    if with_shap:
        columns += [f"shap_{name}" for name in bundle.feature_names]
    return columns


def verdict(p_good: float, threshold: float) -> str:
    """``good`` when p_good >= threshold, else ``bad``."""
    return "good" if p_good >= threshold else "bad"


@dataclass
class Assessment:
    """One photo judged: its feature row and, when it could be read, verdict and why.

    ``reasons`` are given for "bad" verdicts only: a good photo has no defect to name.
    ``contributions`` are the SHAP values (log-odds of "good") in the model's feature order.
    """

    row: dict[str, object]
    p_good: float = math.nan
    verdict: str = ""
    reasons: list[Reason] = field(default_factory=list)
    contributions: np.ndarray | None = None
    expected: float = math.nan

    @property
    def ok(self) -> bool:
        return self.row["status"] == STATUS_OK


class Scorer:
    """Inputs to verdicts; loads the model bundle and the feature models once.

    Parameters
    ----------
    bundle : path or ModelBundle
        The model folder, or a bundle already loaded in this process (worker processes
        are handed the folder and load it themselves).
    config : ExtractConfig
        The model's recipe (see :meth:`from_model`).
    with_shap : bool
        Add ``shap_<feature>`` columns to CSV rows.
    top : int
        Reasons per photo.
    """

    def __init__(
        self,
        bundle: str | os.PathLike[str] | ModelBundle,
        config: ExtractConfig,
        with_shap: bool = False,
        top: int = DEFAULT_TOP_REASONS,
    ):
        self.bundle = bundle if isinstance(bundle, ModelBundle) else load_bundle(bundle)
        self.extractor = FeatureExtractor(config)
        self.config = config
        self.with_shap = with_shap
        self.top = top
        self.columns = score_columns(config, self.bundle, with_shap)
        self.good = self.bundle.good_ranges
        self.specs = config.specs()
        self.run = {
            "model_sha256": self.bundle.sha256,
            "threshold": self.bundle.threshold,
            "recipe": config.fingerprint(),
        }

    @classmethod
    def from_model(
        cls,
        model: str | os.PathLike[str] | ModelBundle,
        options: RecipeOptions | None = None,
        *,
        with_shap: bool = False,
        top: int = DEFAULT_TOP_REASONS,
    ) -> tuple[Scorer, list[str]]:
        """The whole pipeline of a model folder in one call: the bundle, the recipe it was
        trained with (made again here, with ``options`` for weights folders and the like),
        the segmenter and NIMA networks. Returns it and warnings to show once.

        Raises
        ------
        photoqc.models.bundle.BundleError, photoqc.pipelines.recipe.RecipeError
        """
        bundle = model if isinstance(model, ModelBundle) else load_bundle(model)
        config, warnings = ExtractConfig.from_record(
            bundle.recipe, options, used_features=bundle.feature_names
        )
        return cls(bundle, config, with_shap, top), warnings

    def worker_args(self) -> tuple:
        """Arguments that build this scorer again in a worker process."""
        return (str(self.bundle.path), self.config, self.with_shap, self.top)

    def assess(self, items: Sequence[InputItem]) -> list[Assessment]:
        """Judge a batch of inputs; never raises for a bad file."""
        out = [Assessment(row) for row in self.extractor.rows(items)]
        ok = [a for a in out if a.ok]
        if not ok:
            return out
        frame = pd.DataFrame([a.row for a in ok])
        p_good = self.bundle.predict_good(frame)
        contributions, expected = self.bundle.contributions(frame)
        names = self.bundle.feature_names
        for j, a in enumerate(ok):
            a.p_good = float(p_good[j])
            a.verdict = verdict(a.p_good, self.bundle.threshold)
            a.contributions, a.expected = contributions[j], float(expected[j])
            if a.verdict == "bad":
                a.reasons = top_reasons(
                    a.row, contributions[j], names, self.good, self.specs, top=self.top
                )
        return out

    def rows(self, items: Sequence[InputItem]) -> list[dict[str, object]]:
        """Scores CSV rows of a batch of inputs, in order."""
        return [self.csv_row(a) for a in self.assess(items)]

    def csv_row(self, assessment: Assessment) -> dict[str, object]:
        """The scores CSV row of one assessment."""
        row = self._row(assessment.row)
        if not assessment.ok:
            return row
        row.update(
            p_good=assessment.p_good,
            verdict=assessment.verdict,
            reasons=reasons_text(assessment.reasons),
            reasons_json=reasons_json(assessment.reasons),
        )
        if self.with_shap and assessment.contributions is not None:
            row.update(
                {
                    f"shap_{n}": float(c)
                    for n, c in zip(
                        self.bundle.feature_names, assessment.contributions, strict=True
                    )
                }
            )
        return row

    def _row(self, feature_row: dict[str, object]) -> dict[str, object]:
        row = dict.fromkeys(self.columns, math.nan)
        row.update({k: v for k, v in feature_row.items() if k in row})
        row.update(p_good=math.nan, verdict="", reasons="", reasons_json="[]", **self.run)
        return row

    def error_row(self, item: InputItem, message: str) -> dict[str, object]:
        return self._row(self.extractor.error_row(item, message))


@dataclass
class ScoreSummary:
    total: int
    already_done: int
    scored: int
    errors: int
    good: int
    bad: int


def score_to_csv(
    items: Sequence[InputItem],
    scorer: Scorer,
    out: str | os.PathLike[str],
    *,
    workers: int = 1,
    overwrite: bool = False,
    on_rows: Callable[[int], None] | None = None,
) -> ScoreSummary:
    """Score ``items`` into the CSV ``out``, continuing a previous run of the same job.

    Rows already in ``out`` are kept only when the same model, threshold and recipe wrote
    them (:data:`RUN_COLUMNS`). The output is locked for the run.

    Raises
    ------
    OutputError
        Another process writes ``out``; ``out`` holds another run's rows (the message names
        ``--overwrite``); the disk is full (the rows written so far stay, and the same
        command resumes).
    Interrupted
        On Ctrl-C or SIGTERM, with how many rows ``out`` keeps.
    """
    with OutputLock(out):
        writer = ResumableCsv(
            out, scorer.columns, overwrite=overwrite, run=scorer.run, describe_run=RUN_WORDS
        )
        todo = remaining(items, writer.done)
        summary = ScoreSummary(len(items), len(items) - len(todo), 0, 0, 0, 0)
        size = batch_size_for(len(todo), scorer.config.batch_size, workers)
        try:
            # In this process the scorer already built serves; workers build their own
            # from its folder and recipe.
            batches = run_batches(
                batched(todo, size), Scorer, scorer.worker_args(), workers=workers, local=scorer
            )
            for _, rows in in_input_order(batches):
                writer.write(rows)
                summary.scored += len(rows)
                summary.errors += sum(r["status"] != STATUS_OK for r in rows)
                summary.good += sum(r["verdict"] == "good" for r in rows)
                summary.bad += sum(r["verdict"] == "bad" for r in rows)
                if on_rows:
                    on_rows(len(rows))
        except KeyboardInterrupt:
            raise Interrupted(summary.already_done + summary.scored, Path(out)) from None
    return summary
