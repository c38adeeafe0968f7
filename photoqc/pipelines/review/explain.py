"""Explain one photo's verdict (``photoqc explain``): probability, reasons, feature pushes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photoqc.assess.scorer import Assessment, Scorer
from photoqc.errors import PhotoqcError
from photoqc.features import FeatureSpec
from photoqc.models.explain import Reason, save_waterfall
from photoqc.pipelines.batch.inputs import InputItem


class ExplainError(PhotoqcError):
    """The photo could not be judged (unreadable, corrupt...): the message says why."""


@dataclass(frozen=True)
class FeaturePush:
    """One feature's push on the verdict, as people read it."""

    spec: FeatureSpec
    value: float
    contribution: float  # SHAP value, log-odds of "good" (negative: towards bad)
    typical: float = float("nan")  # good training photos' median


@dataclass(frozen=True)
class Explanation:
    """Why one photo got its verdict.

    ``pushes`` are the SHAP pushes of every model feature that was measured (a feature that
    could not be, such as the object's on a photo with no object, is left out), strongest
    first.
    """

    image: str
    verdict: str
    p_good: float
    threshold: float
    segmenter: str
    reasons: list[Reason]
    pushes: list[FeaturePush]


def explain_image(path: str | os.PathLike[str], scorer: Scorer) -> Explanation:
    """Judge one photo with ``scorer`` and say why.

    Raises
    ------
    ExplainError
        When the photo cannot be read or measured.
    """
    path = Path(path)
    assessment: Assessment = scorer.assess([InputItem(str(path), path)])[0]
    if not assessment.ok:
        raise ExplainError(f"{path}: {assessment.row['error']}")
    assert assessment.contributions is not None
    names = scorer.bundle.feature_names
    specs = scorer.bundle.specs
    pushes = [
        FeaturePush(
            specs.get(name) or FeatureSpec(name, name),
            float(assessment.row.get(name, np.nan)),
            float(c),
            scorer.good[name].median if name in scorer.good else float("nan"),
        )
        for name, c in zip(names, assessment.contributions, strict=True)
        if np.isfinite(float(assessment.row.get(name, np.nan)))
    ]
    pushes.sort(key=lambda p: -abs(p.contribution))
    return Explanation(
        image=str(path),
        verdict=assessment.verdict,
        p_good=assessment.p_good,
        threshold=scorer.bundle.threshold,
        segmenter=str(assessment.row["segmenter"]),
        reasons=assessment.reasons,
        pushes=pushes,
    )


def write_waterfall(explanation: Explanation, path: str | os.PathLike[str]) -> list[str]:
    """Save the explanation's strongest feature pushes as a PNG bar chart; returns what
    its bars and axis say."""
    pushes = explanation.pushes
    return save_waterfall(
        np.array([p.contribution for p in pushes]),
        [p.value for p in pushes],
        [p.spec for p in pushes],
        str(path),
        typical=[p.typical for p in pushes],
        title=f"{Path(explanation.image).name}: {explanation.verdict}, "
        f"p_good {explanation.p_good:.2f} (threshold {explanation.threshold:.2f})",
    )
