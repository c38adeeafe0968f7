"""Sharpness: how much fine detail survives in the luma.

Both measures are classic focus measures (Pertuz et al., "Analysis of focus measure
operators for shape-from-focus", Pattern Recognition 46, 2013): the variance of the
Laplacian (Pech-Pacheco et al. 2000) and Tenengrad (mean squared Sobel gradient magnitude,
Krotkov 1987, here without a threshold). They are measured twice:

- at the fixed analysis scale (long side 512 px), so photos of different sizes compare;
- at native scale, because a soft 24 MP photo can look sharp once shrunk, and vice versa.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from photoqc.features.inputs import FeatureInput, sobel_gradients
from photoqc.features.pooling import mean_var, pooled_mean_var
from photoqc.features.spec import Direction, FeatureGroup, FeatureSpec


def laplacian_response(luma: np.ndarray) -> np.ndarray:
    """The 3x3 Laplacian of ``luma`` (0–255 units), float32, same shape."""
    return cv2.Laplacian(luma, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT)


def masked_variance(values: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Variance of ``values`` over ``mask`` (all pixels when None); NaN for an empty region."""
    if values.size == 0 or (mask is not None and not mask.any()):
        return float("nan")
    return mean_var(values, mask)[1]


def laplacian_variance(luma: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Variance of the Laplacian of ``luma`` over ``mask``; in (0–255 luma units)^2, >= 0.

    Higher is sharper. Noise raises it too, so read it beside ``noise_sigma``.
    """
    return masked_variance(laplacian_response(luma), mask)


def pooled_laplacian_variance(lumas: list[np.ndarray]) -> float:
    """:func:`laplacian_variance` of several windows of one photo, as if of their union."""
    if len(lumas) == 1:
        return laplacian_variance(lumas[0])
    parts = []
    for luma in lumas:
        parts.append((luma.size, *mean_var(laplacian_response(luma))))
    return pooled_mean_var(parts)[1]


def tenengrad(
    luma: np.ndarray,
    mask: np.ndarray | None = None,
    gradients: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """Mean squared Sobel gradient magnitude over ``mask``; (0–255 luma units)^2, >= 0.

    ``gradients`` may pass Sobel derivatives already computed for ``luma``.
    """
    gx, gy = gradients if gradients is not None else sobel_gradients(luma)
    if mask is not None and not mask.any():
        return float("nan")
    cv_mask = None if mask is None else mask.astype(np.uint8)
    # mean(gx^2 + gy^2) = sum over both of variance + mean^2: no squared copy needed.
    total = 0.0
    for g in (gx, gy):
        mean, variance = mean_var(g, cv_mask)
        total += variance + mean**2
    return total


PEAK_GRID = 12
"""Tiles per side over which the sharpest part of the frame is looked for."""

PEAK_QUANTILE = 0.98
"""Which tile counts as the sharpest: the 98th percentile of 144 (the third sharpest), so
one noisy tile does not speak for the photo."""


def peak_sharpness(
    luma: np.ndarray, grid: int = PEAK_GRID, quantile: float = PEAK_QUANTILE
) -> float:
    """Sharpness of the sharpest small part of the frame: the Laplacian variance of a
    ``grid`` x ``grid`` tiling, at its ``quantile``; luma units^2, >= 0.

    A photo with a sharp subject on a soft background (shallow depth of field) keeps a high
    peak; only a photo blurred all over has a low one.
    """
    h, w = luma.shape[:2]
    if min(h, w) < 2 * grid:
        return float("nan")
    response = laplacian_response(luma)
    rows = [round(k * h / grid) for k in range(grid + 1)]
    cols = [round(k * w / grid) for k in range(grid + 1)]
    variances = [
        mean_var(response[r0:r1, c0:c1])[1]
        for r0, r1 in itertools.pairwise(rows)
        for c0, c1 in itertools.pairwise(cols)
    ]
    return float(np.quantile(variances, quantile))


def relative(sharpness: float, luma: np.ndarray) -> float:
    """``sharpness`` (a Laplacian variance) over the variance of ``luma``: fine detail per
    unit of contrast, >= 0. Darkening or brightening a photo scales both alike, so this
    tells a soft photo from a dark one, which raw sharpness confuses."""
    variance = mean_var(luma)[1]
    return sharpness / variance if variance > _FLAT_VARIANCE else float("nan")


_FLAT_VARIANCE = 1.0
"""Luma variance (levels^2) below which a photo is too flat for relative sharpness."""


def _compute(x: FeatureInput) -> dict[str, float]:
    laplacian = laplacian_variance(x.luma_small)
    peak = peak_sharpness(x.luma_small)
    return {
        "sharpness_relative": relative(laplacian, x.luma_small),
        "sharpness_peak_relative": relative(peak, x.luma_small),
        "sharpness_peak": peak,
        "sharpness_laplacian": laplacian,
        "sharpness_tenengrad": tenengrad(x.luma_small),
        # Native scale, on the native tiles of a large photo.
        "sharpness_laplacian_native": pooled_laplacian_variance(x.native_luma),
        "sharpness_tenengrad_native": float(
            np.mean(
                [
                    tenengrad(t, gradients=g)
                    for t, g in zip(x.native_luma, x.native_gradients, strict=True)
                ]
            )
        ),
    }


def _spec(name: str, description: str, low: str = "", fmt: str = ".0f") -> FeatureSpec:
    return FeatureSpec(name, description, "sharpness", Direction.HIGHER_BETTER, low=low, fmt=fmt)


# Raw sharpness (Laplacian variance, Tenengrad) falls when a photo is darkened as much as
# when it is blurred: it judges, but never speaks. Reasons about blur come from the
# relative measures, which darkening leaves alone.
GROUP = FeatureGroup(
    name="sharpness",
    specs=(
        _spec(
            "sharpness_laplacian",
            "variance of the Laplacian of luma at analysis scale (long side 512 px), "
            "luma units^2, >= 0; higher is sharper",
        ),
        _spec(
            "sharpness_tenengrad",
            "mean squared Sobel gradient of luma at analysis scale, luma units^2, >= 0",
        ),
        _spec(
            "sharpness_laplacian_native",
            "variance of the Laplacian of luma at native size, luma units^2, >= 0",
        ),
        _spec(
            "sharpness_relative",
            "variance of the Laplacian over the variance of luma at analysis scale (fine "
            "detail per unit of contrast; darkening leaves it), >= 0",
            "blurry: fine detail {v}",
            ".2f",
        ),
        _spec(
            "sharpness_peak_relative",
            "sharpness of the sharpest part of the frame over the variance of luma, >= 0 "
            "(darkening leaves it)",
            "blurry all over: even the sharpest part of the frame has fine detail {v}",
            ".2f",
        ),
        _spec(
            "sharpness_peak",
            f"Laplacian variance of the sharpest part of a {PEAK_GRID}x{PEAK_GRID} tiling at "
            "analysis scale (98th percentile of tiles), luma units^2, >= 0",
        ),
        _spec(
            "sharpness_tenengrad_native",
            "mean squared Sobel gradient of luma at native size, luma units^2, >= 0",
        ),
    ),
    compute=_compute,
)
