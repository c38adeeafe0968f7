"""Colour: how vivid it is, and whether a cast tints what should be grey."""

from __future__ import annotations

import cv2
import numpy as np

from photoqc.features.inputs import FeatureInput
from photoqc.features.spec import Direction, FeatureGroup, FeatureSpec
from photoqc.features.stats import level_quantile


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


def colour_cast(rgb: np.ndarray) -> float:
    """How far the photo's average colour is from grey: the length of the mean (a*, b*)
    of its mid-tones (L* 10–95) in CIELAB, >= 0; about 0–20 for a balanced photo, 35+ for a
    strong cast (a scene of one dominant colour reads high too).

    A white-balance error or a tinted light shifts every pixel the same way; the grey-world
    assumption (a scene's average is grey) turns that shift into one number.

    Reference: G. Buchsbaum, "A spatial processor model for object colour perception",
    J. Franklin Institute 310, 1980.
    """
    lab = cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    lightness = lab[..., 0]
    midtones = (lightness > 10) & (lightness < 95)
    if np.count_nonzero(midtones) < 16:
        return float("nan")
    return float(np.hypot(lab[..., 1][midtones].mean(), lab[..., 2][midtones].mean()))


BALANCE_QUANTILE = 0.99
"""Which level stands for a channel's brightest: its 99th percentile."""


def colour_balance(rgb: np.ndarray, quantile: float = BALANCE_QUANTILE) -> float:
    """How evenly R, G and B reach their highs: the weakest channel's ``quantile`` over the
    strongest's, 0–1 (about 0.9–1 for a balanced photo, under 0.6 for a strong cast).

    Most scenes hold something white or light grey, where a balanced camera reaches the
    same level in all three channels; a colour cast caps one channel well below the others.
    After the white-patch (max-RGB) illuminant estimate.
    """
    pixels = rgb.reshape(-1, 3)
    levels = np.clip(pixels, 0, 255).astype(np.uint8)
    if pixels.size and np.array_equal(levels, pixels):  # whole levels (always, from uint8)
        counts = [np.bincount(channel, minlength=256) for channel in levels.T]
        highs = np.array([level_quantile(c, quantile) for c in counts])
    else:
        highs = np.quantile(pixels, quantile, axis=0)
    return float(highs.min() / highs.max()) if highs.max() > 0 else float("nan")


def _compute(x: FeatureInput) -> dict[str, float]:
    return {
        "colourfulness": colourfulness(x.rgb_small),
        "colour_cast": colour_cast(x.rgb_small),
        "colour_balance": colour_balance(x.rgb_small),
    }


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
            bounded=True,
        ),
        FeatureSpec(
            "colour_cast",
            "distance of the mid-tones' average colour from grey (grey world), CIELAB units, "
            ">= 0 (0–20 balanced, 35+ strong cast or one dominant colour)",
            "colour",
            Direction.HIGHER_WORSE,
            high="colour cast: the whole photo tinted by {v} (Lab units)",
            fmt=".1f",
        ),
        FeatureSpec(
            "colour_balance",
            "the weakest colour channel's 99th percentile over the strongest's, 0–1 (under "
            "0.6: a strong colour cast)",
            "colour",
            Direction.HIGHER_BETTER,
            low="colour cast: whites tinted, one channel reaches only {v} of the others",
        ),
    ),
    compute=_compute,
)
