"""Global exposure: how bright the photo is and how much its tones spread."""

from __future__ import annotations

import cv2
import numpy as np

from photoqc.features.base import FeatureGroup, FeatureInput, FeatureSpec


def luma_mean(luma: np.ndarray) -> float:
    """Mean luma as a fraction of full scale, 0 (black) – 1 (white).

    Parameters
    ----------
    luma : ndarray
        Luma in 0–255 (any dtype).
    """
    if luma.size == 0:
        return float("nan")
    return float(cv2.mean(luma)[0] / 255.0)


def rms_contrast(luma: np.ndarray) -> float:
    """RMS contrast: standard deviation of luma as a fraction of full scale, 0–0.5.

    0 is a flat image; 0.5 is half black, half white (Peli 1990's RMS contrast on
    normalised intensity).
    """
    if luma.size == 0:
        return float("nan")
    _, std = cv2.meanStdDev(luma)
    return float(std[0, 0] / 255.0)


def _compute(x: FeatureInput) -> dict[str, float]:
    return {"brightness": luma_mean(x.luma), "contrast": rms_contrast(x.luma)}


GROUP = FeatureGroup(
    name="exposure",
    specs=(
        FeatureSpec(
            "brightness",
            "mean luma of the whole photo, fraction of full scale, 0–1",
            "exposure",
            low="too dark: brightness {v}",
            high="too bright: brightness {v}",
        ),
        FeatureSpec(
            "contrast",
            "RMS contrast (std of luma) of the whole photo, 0–0.5",
            "contrast",
            low="flat, low contrast: {v}",
            high="harsh contrast: {v}",
        ),
    ),
    compute=_compute,
)
