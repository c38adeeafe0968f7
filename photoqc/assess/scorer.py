"""The per-image core's second half: an image in, a verdict with reasons out.

A :class:`Scorer` holds a model bundle and the extractor of the recipe the model was
trained with; :meth:`Scorer.assess` judges a batch of images (paths, bytes or decoded
images) and hands back, with each verdict, what was computed on the way (the object mask,
the analysis-scale image). A scores CSV row (:meth:`Scorer.csv_row`) holds
``image, status, error, p_good, verdict, threshold, reasons, segmenter``, provenance,
every feature, and with ``with_shap`` a ``shap_<feature>`` column per model feature
(log-odds of "good").
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from photoqc.assess.extractor import Extraction, FeatureExtractor, error_row
from photoqc.assess.items import ImageSource, InputItem
from photoqc.assess.recipe import TEXT_COLUMNS, ExtractConfig, RecipeOptions
from photoqc.errors import PhotoqcError
from photoqc.features.nima import LEARNED_SPECS, READOUT_FEATURE, READOUT_SPEC
from photoqc.memory import return_free_memory
from photoqc.models.bundle import BundleError, ModelBundle, load_bundle
from photoqc.models.explain import (
    Reason,
    overall_reason,
    reasons_json,
    reasons_text,
    too_small_reason,
    top_reasons,
)
from photoqc.perceptual_hash import hash_text, photo_hashes

if TYPE_CHECKING:
    from photoqc.models.networks import Batcher

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
    "phash",
)
"""After the score columns: where the row came from, the reasons as structured data, and
the photo's perceptual hashes (:mod:`photoqc.perceptual_hash`, for ``photoqc rank``'s
near-duplicates)."""

SCORE_TEXT_COLUMNS = (
    *TEXT_COLUMNS,
    "verdict",
    "reasons",
    "reasons_json",
    "model_sha256",
    "recipe",
    "phash",
)
"""Columns of a scores table that hold text; every other column is a number."""

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
    """Column order of a scores CSV (the model's learned impression after the recipe's
    features, when it has an embedding read-out)."""
    columns = [*SCORE_COLUMNS, *PROVENANCE_COLUMNS, *config.feature_names()]
    if bundle.readout is not None:
        columns.append(READOUT_FEATURE)
    if bundle.heads is not None:
        columns += list(bundle.heads.feature_names)
    if with_shap:
        columns += [f"shap_{name}" for name in bundle.feature_names]
    return columns


def verdict(p_good: float, threshold: float) -> str:
    """``good`` when p_good >= threshold, else ``bad``."""
    return "good" if p_good >= threshold else "bad"


def judge(
    bundle: ModelBundle,
    row: Mapping[str, object],
    p_good: float,
    contributions: np.ndarray,
    specs: Mapping[str, object],
    good: Mapping[str, object],
    *,
    top: int = DEFAULT_TOP_REASONS,
) -> tuple[str, list[Reason]]:
    """A measured photo's verdict at the model's threshold, and for a bad one its reasons
    (from its SHAP ``contributions``, the features' ``specs`` and ``good`` photos' ranges).

    A photo whose short side is below the model's ``min_short_side`` is bad whatever its
    p_good, and says so on a line of its own after the visible defects: the size rule is
    policy, and never displaces what a moderator would see is wrong.
    """
    small = too_small_reason(
        float(row.get("width", math.nan)),  # type: ignore[arg-type]
        float(row.get("height", math.nan)),  # type: ignore[arg-type]
        bundle.min_short_side,
    )
    label = "bad" if small else verdict(p_good, bundle.threshold)
    if label == "good":
        return label, []
    found = top_reasons(row, contributions, bundle.feature_names, good, specs, top=top)
    if not found and not small:  # a bad verdict always says why, if only as a whole
        found = [overall_reason(p_good, bundle.threshold)]
    return label, found[:top] + ([small] if small else [])


@dataclass
class Assessment:
    """One photo judged: what the extractor measured and, when it could be read, the
    verdict and why.

    ``reasons`` are given for "bad" verdicts only: a good photo has no defect to name.
    ``contributions`` are the SHAP values (log-odds of "good") in the model's feature order.
    """

    extraction: Extraction
    p_good: float = math.nan
    verdict: str = ""
    reasons: list[Reason] = field(default_factory=list)
    contributions: np.ndarray | None = None
    expected: float = math.nan

    @cached_property
    def hashes(self) -> tuple[int, ...] | None:
        """The photo's perceptual hashes (of the analysis-scale image); None for an error
        or a photo too plain to compare (:func:`photoqc.perceptual_hash.photo_hashes`)."""
        pixels = self.extraction.analysis_rgb
        if pixels is None and self.extraction.image is not None:
            pixels = self.extraction.image.pixels
        if pixels is None:
            return None
        return photo_hashes(np.clip(pixels, 0, 255).astype(np.uint8))

    @property
    def row(self) -> dict[str, object]:
        """The feature row."""
        return self.extraction.row

    @property
    def ok(self) -> bool:
        return self.extraction.ok

    @property
    def error(self) -> PhotoqcError | None:
        """Why the photo could not be judged; None when it was."""
        return self.extraction.error


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
    nima, nima_window_s : Batcher, float
        Share another scorer's NIMA networks and batches (the service's threads do), or
        build them here, gathering concurrent calls for ``nima_window_s`` seconds
        (:class:`photoqc.models.networks.Batcher`).

    A scorer holds threads and network sessions once it has scored: use it in a ``with``
    block (or call :meth:`close`) where a process builds more than one::

        scorer, warnings = Scorer.from_model("model/")
        with scorer:
            assessments = scorer.assess(["sofa.jpg"])
    """

    def __init__(
        self,
        bundle: str | os.PathLike[str] | ModelBundle,
        config: ExtractConfig,
        with_shap: bool = False,
        top: int = DEFAULT_TOP_REASONS,
        *,
        nima: Batcher | None = None,
        nima_window_s: float = 0.0,
    ):
        self.bundle = bundle if isinstance(bundle, ModelBundle) else load_bundle(bundle)
        self.config = config
        self.with_shap = with_shap
        self.top = top
        self.nima, self.nima_window_s = nima, nima_window_s
        self.columns = score_columns(config, self.bundle, with_shap)
        self.good = self.bundle.good_ranges
        self.specs = config.specs()
        if self.bundle.readout is not None:
            self.specs[READOUT_SPEC.name] = READOUT_SPEC
        if self.bundle.heads is not None:
            self.specs.update({n: LEARNED_SPECS[n] for n in self.bundle.heads.feature_names})
        self._closed = False
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
        nima_window_s: float = 0.0,
        model_sha256: str | None = None,
    ) -> tuple[Scorer, list[str]]:
        """The whole pipeline of a model folder in one call: the bundle, the recipe it was
        trained with (made again here, with ``options`` for weights folders and the like),
        the segmenter and NIMA networks. Returns it and warnings to show once.
        ``model_sha256`` pins the folder: any other is refused.

        Raises
        ------
        photoqc.models.bundle.BundleError, photoqc.assess.recipe.RecipeError
        """
        if isinstance(model, ModelBundle):
            bundle = model
            if model_sha256 is not None and bundle.meta.get("sha256") != model_sha256.lower():
                raise BundleError(f"the model's sha256 is not the pinned {model_sha256}")
        else:
            bundle = load_bundle(model, expected_sha256=model_sha256)
        config, warnings = ExtractConfig.from_record(
            bundle.recipe, options, used_features=bundle.feature_names
        )
        return cls(bundle, config, with_shap, top, nima_window_s=nima_window_s), warnings

    @cached_property
    def extractor(self) -> FeatureExtractor:
        """The recipe's extractor (segmenter, NIMA), built on first use: a process that only
        hands the work to others (the ray engine's driver) never loads the networks."""
        return FeatureExtractor(
            self.config,
            nima=self.nima,
            nima_window_s=self.nima_window_s,
            keep_stats=self.bundle.heads is not None,
        )

    def close(self) -> None:
        """Let go of the extractor's threads, networks and sessions (those it owns; a
        borrowed NIMA batcher is its owner's); idempotent. A scorer dropped without closing
        lets them go when it is collected."""
        extractor = self.__dict__.get("extractor")
        if extractor is not None and not self._closed:
            extractor.close()
            # what the sessions and buffers held is free now; without this glibc keeps the
            # pages and a host that swaps models stays at its peak
            return_free_memory()
        self._closed = True

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def worker_args(self) -> tuple:
        """Arguments that build this scorer again in a worker process."""
        return (str(self.bundle.path), self.config, self.with_shap, self.top)

    def assess(self, items: Sequence[InputItem | ImageSource]) -> list[Assessment]:
        """Judge a batch of images (paths, bytes, decoded images or items naming them);
        never raises for a bad file."""
        if self._closed:
            raise RuntimeError("the scorer was closed")
        out = [Assessment(e) for e in self.extractor.extract(items)]
        ok = [a for a in out if a.ok]
        if not ok:
            return out
        readout = self.bundle.readout
        if readout is not None:  # from the NIMA pass that gave the scores: no extra cost
            values = readout.predict(readout.matrix([a.extraction.embeddings for a in ok]))
            for a, value in zip(ok, values, strict=True):
                a.row[READOUT_FEATURE] = float(value)
        heads = self.bundle.heads
        if heads is not None:  # the same pass's multi-level stats
            learned = heads.features(heads.matrix([a.extraction.stats for a in ok]))
            for j, a in enumerate(ok):
                a.row.update({name: float(values[j]) for name, values in learned.items()})
        frame = pd.DataFrame([a.row for a in ok])
        p_good = self.bundle.predict_good(frame)
        contributions, expected = self.bundle.contributions(frame)
        for j, a in enumerate(ok):
            a.p_good = float(p_good[j])
            a.contributions, a.expected = contributions[j], float(expected[j])
            a.verdict, a.reasons = judge(
                self.bundle, a.row, a.p_good, contributions[j], self.specs, self.good, top=self.top
            )
        return out

    def rows(self, items: Sequence[InputItem | ImageSource]) -> list[dict[str, object]]:
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
            phash=hash_text(assessment.hashes),
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
        row.update(p_good=math.nan, verdict="", reasons="", reasons_json="[]", phash="", **self.run)
        return row

    def error_row(self, item: InputItem, message: str) -> dict[str, object]:
        return self._row(error_row(item, message, self.config.segmenter.kind, self.config))
