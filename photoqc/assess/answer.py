"""One photo's answer as a plain record: what ``POST /v1/check`` returns, what ``photoqc
check --json`` prints a line of, and what ``photoqc.check()`` gives back. One builder, so
the three never drift apart."""

from __future__ import annotations

import math
import time

from photoqc.assess.items import InputItem
from photoqc.assess.scorer import Assessment, Scorer
from photoqc.models.bundle import ModelBundle

__all__ = ["answer", "check_record", "error_record", "trained_on"]


def trained_on(meta: dict) -> str:
    """What the model learnt from, in words ("600 photos (labels.csv)")."""
    training = meta.get("training", {})
    images = training.get("images")
    labels = training.get("labels_file") or "labels"
    return f"{images} photos ({labels})" if images else "unknown"


def finite(value: object) -> float | None:
    """``value`` as a float, or None where it is missing or not finite (JSON has no NaN)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def check_record(
    assessment: Assessment,
    bundle: ModelBundle,
    name: str,
    *,
    timing_ms: dict[str, float] | None = None,
    with_features: bool = False,
) -> dict[str, object]:
    """The answer for a photo that could be judged: ``image`` (its name), ``verdict``,
    ``p_good`` (0–1), ``threshold``, ``reasons`` (a list of objects with ``family``,
    ``text``, ``feature``, ``value``, ``typical``), ``segmenter``, ``model`` (its sha256 and
    what it was trained on), ``timing_ms``, and with ``with_features`` every feature."""
    record: dict[str, object] = {
        "image": name,
        "verdict": assessment.verdict,
        "p_good": assessment.p_good,
        "threshold": bundle.threshold,
        "reasons": [r.to_dict() for r in assessment.reasons],
        "segmenter": str(assessment.row.get("segmenter", "")),
        "model": {"sha256": bundle.sha256, "trained_on": trained_on(bundle.meta)},
        "timing_ms": dict(timing_ms or {}),
    }
    if with_features:
        record["features"] = {n: finite(assessment.row.get(n)) for n in bundle.feature_names}
    return record


def error_record(name: str, code: str, message: str) -> dict[str, object]:
    """The answer for a photo that could not be judged (the service's error body, with the
    photo's name)."""
    return {"image": name, "error": {"code": code, "message": message}}


def answer(
    scorer: Scorer, item: InputItem, *, with_features: bool = False
) -> tuple[Assessment, dict[str, object]]:
    """Judge one photo and make its record: :func:`check_record` (timed), or
    :func:`error_record` for a photo that could not be read. The assessment comes back
    too (its error's HTTP status, its mask)."""
    started = time.perf_counter()
    (assessment,) = scorer.assess([item])
    if assessment.error is not None:
        record = error_record(item.image, assessment.error.code, str(assessment.row["error"]))
        return assessment, record
    timing = {"check": round(1000 * (time.perf_counter() - started), 1)}
    record = check_record(
        assessment, scorer.bundle, item.image, timing_ms=timing, with_features=with_features
    )
    return assessment, record
