"""Clipped pixels: highlights blown to white and shadows crushed to black."""

from __future__ import annotations

import numpy as np

from photoqc.features.base import Direction, FeatureGroup, FeatureInput, FeatureSpec

CLIP_WHITE_LEVEL = 250
"""Luma (0–255) at or above which a pixel counts as blown out to white."""

CLIP_BLACK_LEVEL = 5
"""Luma (0–255) at or below which a pixel counts as crushed to black."""


def clipped_fraction(
    luma: np.ndarray, *, low: float | None = None, high: float | None = None
) -> float:
    """Fraction of pixels (0–1) with ``luma >= high`` (when given) or ``luma <= low``."""
    if luma.size == 0:
        return float("nan")
    hits = np.zeros(luma.shape, dtype=bool)
    if high is not None:
        hits |= luma >= high
    if low is not None:
        hits |= luma <= low
    return float(np.count_nonzero(hits) / luma.size)


def _compute(x: FeatureInput) -> dict[str, float]:
    # Native scale, whole frame, from one histogram pass (a small blown patch is easily
    # missed by a sample; averaging down would turn a highlight's edge grey).
    counts = x.luma_histogram
    total = counts.sum()
    if total == 0:
        return {"clipped_white_fraction": float("nan"), "clipped_black_fraction": float("nan")}
    return {
        "clipped_white_fraction": float(counts[CLIP_WHITE_LEVEL:].sum() / total),
        "clipped_black_fraction": float(counts[: CLIP_BLACK_LEVEL + 1].sum() / total),
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
