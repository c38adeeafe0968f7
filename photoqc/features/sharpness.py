"""Sharpness: how much fine detail survives in the luma.

Both measures are classic focus measures (Pertuz et al., "Analysis of focus measure
operators for shape-from-focus", Pattern Recognition 46, 2013): the variance of the
Laplacian (Pech-Pacheco et al. 2000) and Tenengrad (mean squared Sobel gradient magnitude,
Krotkov 1987, here without a threshold). They are measured twice:

- at the fixed analysis scale (long side 1024 px), so photos of different sizes compare;
- at native scale, because a soft 24 MP photo can look sharp once shrunk, and vice versa.
"""

from __future__ import annotations

import cv2
import numpy as np

from photoqc.features.base import (
    Direction,
    FeatureGroup,
    FeatureInput,
    FeatureSpec,
    sobel_gradients,
)


def laplacian_response(luma: np.ndarray) -> np.ndarray:
    """The 3x3 Laplacian of ``luma`` (0–255 units), float32, same shape."""
    return cv2.Laplacian(luma, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT)


def masked_variance(values: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Variance of ``values`` over ``mask`` (all pixels when None); NaN for an empty region."""
    if values.size == 0 or (mask is not None and not mask.any()):
        return float("nan")
    _, std = cv2.meanStdDev(values, mask=None if mask is None else mask.astype(np.uint8))
    return float(std[0, 0] ** 2)


def laplacian_variance(luma: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Variance of the Laplacian of ``luma`` over ``mask``; in (0–255 luma units)^2, >= 0.

    Higher is sharper. Noise raises it too, so read it beside ``noise_sigma``.
    """
    return masked_variance(laplacian_response(luma), mask)


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
        mean, std = cv2.meanStdDev(g, mask=cv_mask)
        total += float(std[0, 0] ** 2 + mean[0, 0] ** 2)
    return total


def _compute(x: FeatureInput) -> dict[str, float]:
    return {
        "sharpness_laplacian": laplacian_variance(x.luma_small),
        "sharpness_tenengrad": tenengrad(x.luma_small),
        "sharpness_laplacian_native": laplacian_variance(x.luma),
        "sharpness_tenengrad_native": tenengrad(x.luma, gradients=x.gradients),
    }


def _spec(name: str, description: str, low: str) -> FeatureSpec:
    return FeatureSpec(name, description, "sharpness", Direction.HIGHER_BETTER, low=low, fmt=".0f")


GROUP = FeatureGroup(
    name="sharpness",
    specs=(
        _spec(
            "sharpness_laplacian",
            "variance of the Laplacian of luma at analysis scale (long side 1024 px), "
            "luma units^2, >= 0; higher is sharper",
            "blurry: sharpness {v}",
        ),
        _spec(
            "sharpness_tenengrad",
            "mean squared Sobel gradient of luma at analysis scale, luma units^2, >= 0",
            "blurry: edge strength {v}",
        ),
        _spec(
            "sharpness_laplacian_native",
            "variance of the Laplacian of luma at native size, luma units^2, >= 0",
            "blurry at full size: sharpness {v}",
        ),
        _spec(
            "sharpness_tenengrad_native",
            "mean squared Sobel gradient of luma at native size, luma units^2, >= 0",
            "blurry at full size: edge strength {v}",
        ),
    ),
    compute=_compute,
)
