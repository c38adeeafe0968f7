"""Clipped pixels: highlights blown to white and shadows crushed to black."""

from __future__ import annotations

import numpy as np

from photoqc.features.inputs import FeatureInput
from photoqc.features.spec import Direction, FeatureGroup, FeatureSpec

CLIP_WHITE_LEVEL = 250
"""Luma (0–255) at or above which a pixel counts as blown out to white."""

CLIP_BLACK_LEVEL = 5
"""Luma (0–255) at or below which a pixel counts as crushed to black."""


def clipped_fraction(
    counts: np.ndarray, *, low: int | None = None, high: int | None = None
) -> float:
    """Fraction of pixels (0–1) with luma >= ``high`` (when given) or <= ``low``, from a
    luma histogram (pixels per level 0–255); NaN for an empty one."""
    total = counts.sum()
    if total == 0:
        return float("nan")
    hits = (counts[high:].sum() if high is not None else 0.0) + (
        counts[: low + 1].sum() if low is not None else 0.0
    )
    return float(hits / total)


def _compute(x: FeatureInput) -> dict[str, float]:
    # Native scale, whole frame, from one histogram pass (a small blown patch is easily
    # missed by a sample; averaging down would turn a highlight's edge grey).
    return {
        "clipped_white_fraction": clipped_fraction(x.luma_histogram, high=CLIP_WHITE_LEVEL),
        "clipped_black_fraction": clipped_fraction(x.luma_histogram, low=CLIP_BLACK_LEVEL),
    }


GROUP = FeatureGroup(
    name="clipping",
    specs=(
        FeatureSpec(
            "clipped_white_fraction",
            f"fraction of pixels blown out to white (luma >= {CLIP_WHITE_LEVEL} of 255), 0–1",
            "exposure",
            Direction.HIGHER_WORSE,
            high="{v} of pixels blown out to white",
            fmt=".1%",
        ),
        FeatureSpec(
            "clipped_black_fraction",
            f"fraction of pixels crushed to black (luma <= {CLIP_BLACK_LEVEL} of 255), 0–1",
            "exposure",
            Direction.HIGHER_WORSE,
            high="{v} of pixels crushed to black",
            fmt=".1%",
        ),
    ),
    compute=_compute,
)
