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
    # Native scale (on the native tiles of a large photo, all the same size): averaging
    # down would turn a blown highlight's edge into grey.
    lumas = x.native_luma
    return {
        "clipped_white_fraction": float(
            np.mean([clipped_fraction(t, high=CLIP_WHITE_LEVEL) for t in lumas])
        ),
        "clipped_black_fraction": float(
            np.mean([clipped_fraction(t, low=CLIP_BLACK_LEVEL) for t in lumas])
        ),
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
