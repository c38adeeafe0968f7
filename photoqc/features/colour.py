"""Colourfulness: how vivid the colours are."""

from __future__ import annotations

import numpy as np

from photoqc.features.base import FeatureGroup, FeatureInput, FeatureSpec


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk's colourfulness metric M, in 0–255 units, >= 0.

    ``M = sqrt(std(rg)^2 + std(yb)^2) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2)`` with
    ``rg = R - G`` and ``yb = (R + G) / 2 - B``. About 0 for grayscale, 15 "slightly",
    33 "moderately", 59 "quite" and 82+ "extremely" colourful.

    Reference: D. Hasler, S. Süsstrunk, "Measuring colourfulness in natural images",
    Proc. SPIE 5007, 2003.
    """
    rgb = rgb.astype(np.float32, copy=False)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    spread = np.hypot(rg.std(dtype=np.float64), yb.std(dtype=np.float64))
    offset = np.hypot(rg.mean(dtype=np.float64), yb.mean(dtype=np.float64))
    return float(spread + 0.3 * offset)


def _compute(x: FeatureInput) -> dict[str, float]:
    return {"colourfulness": colourfulness(x.rgb_small)}


GROUP = FeatureGroup(
    name="colour",
    specs=(
        FeatureSpec(
            "colourfulness",
            "Hasler–Süsstrunk colourfulness, 0–255 units, >= 0 (0 grey, ~33 moderate, 82+ vivid)",
            "colour",
            low="dull, washed-out colours: colourfulness {v}",
            high="oversaturated colours: colourfulness {v}",
            fmt=".0f",
        ),
    ),
    compute=_compute,
)
