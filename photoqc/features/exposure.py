"""Global exposure: how bright the photo is and how much its tones spread."""

from __future__ import annotations

import numpy as np

from photoqc.features.inputs import FeatureInput
from photoqc.features.spec import Direction, FeatureGroup, FeatureSpec


def brightness_and_contrast(counts: np.ndarray) -> tuple[float, float]:
    """Mean luma and RMS contrast from a luma histogram, each a fraction of full scale.

    Parameters
    ----------
    counts : ndarray, shape (256,)
        Pixels per luma level 0–255.

    Returns
    -------
    (float, float)
        Mean luma, 0 (black) – 1 (white); and the standard deviation of luma, 0–0.5 (0 a
        flat image, 0.5 half black and half white: Peli 1990's RMS contrast). NaN for an
        empty histogram.
    """
    total = counts.sum()
    if total == 0:
        return float("nan"), float("nan")
    levels = np.arange(256.0)
    mean = float(counts @ levels / total)
    variance = max(0.0, float(counts @ (levels - mean) ** 2 / total))
    return mean / 255.0, float(np.sqrt(variance) / 255.0)


GOOD_BRIGHTNESS = (0.30, 0.65)
"""Mean luma (fraction of full scale) of a well-exposed photo: mid-grey (18 % reflectance)
is 0.46 in sRGB; a photo whose average lies outside this band reads as dark or bright."""


def exposure_errors(
    brightness: float, good: tuple[float, float] = GOOD_BRIGHTNESS
) -> tuple[float, float]:
    """(under, over): how far ``brightness`` lies below and above the ``good`` band, >= 0.

    A distance from a range, unlike brightness itself, only ever gets worse as it grows,
    so the classifier may be told so (a monotone constraint).
    """
    return max(0.0, good[0] - brightness), max(0.0, brightness - good[1])


HIGHLIGHT_QUANTILE = 0.95
"""Which tone stands for a photo's highlights: the 95th percentile of luma."""

BRIGHT_LEVEL = 235
"""Luma (0–255) at or above which a pixel reads as near white."""


def highlight_tone(luma: np.ndarray, quantile: float = HIGHLIGHT_QUANTILE) -> float:
    """How bright a photo's brightest parts are: the ``quantile`` of luma, 0–1.

    A well-exposed photo nearly always has something light in it; an under-exposed one has
    no highlights at all, whatever its subject.
    """
    if luma.size == 0:
        return float("nan")
    return float(np.quantile(luma, quantile) / 255.0)


def _compute(x: FeatureInput) -> dict[str, float]:
    # Native scale, whole frame, from the luma histogram (one pass over the pixels).
    brightness, contrast = brightness_and_contrast(x.luma_histogram)
    under, over = exposure_errors(brightness)
    return {
        "brightness": brightness,
        "contrast": contrast,
        "underexposure": under,
        "overexposure": over,
        "highlight_tone": highlight_tone(x.luma_small),
        "bright_fraction": float(np.count_nonzero(x.luma_small >= BRIGHT_LEVEL) / x.luma_small.size)
        if x.luma_small.size
        else float("nan"),
    }


GROUP = FeatureGroup(
    name="exposure",
    specs=(
        FeatureSpec(
            "brightness",
            "mean luma of the whole photo, fraction of full scale, 0–1",
            "exposure",
            low="too dark: brightness {v}",
            high="too bright: brightness {v}",
            bounded=True,
        ),
        FeatureSpec(
            "contrast",
            "RMS contrast (std of luma) of the whole photo, 0–0.5",
            "contrast",
            low="flat, low contrast: {v}",
            high="harsh contrast: {v}",
            bounded=True,
        ),
        FeatureSpec(
            "underexposure",
            f"how far mean luma lies below a well-exposed {GOOD_BRIGHTNESS[0]:.2f}, 0–1",
            "exposure",
            Direction.HIGHER_WORSE,
            high=f"too dark: {{v}} below a well-exposed brightness of {GOOD_BRIGHTNESS[0]:.2f}",
            show_typical=False,
        ),
        FeatureSpec(
            "overexposure",
            f"how far mean luma lies above a well-exposed {GOOD_BRIGHTNESS[1]:.2f}, 0–1",
            "exposure",
            Direction.HIGHER_WORSE,
            high=f"too bright: {{v}} above a well-exposed brightness of {GOOD_BRIGHTNESS[1]:.2f}",
            show_typical=False,
        ),
        FeatureSpec(
            "highlight_tone",
            "95th percentile of luma at analysis scale: how bright the brightest parts are, 0–1",
            "exposure",
            Direction.HIGHER_BETTER,
            low="too dark: even the brightest parts only reach {v}",
        ),
        FeatureSpec(
            "bright_fraction",
            f"fraction of pixels near white (luma >= {BRIGHT_LEVEL} of 255) at analysis scale, 0–1",
            "exposure",
            Direction.HIGHER_WORSE,
            high="washed out: {v} of the photo near white",
            fmt=".1%",
        ),
    ),
    compute=_compute,
)
