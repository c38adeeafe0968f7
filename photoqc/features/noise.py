"""Sensor noise: the standard deviation of additive noise, estimated from one photo."""

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
from photoqc.features.clipping import CLIP_BLACK_LEVEL, CLIP_WHITE_LEVEL

FLAT_FRACTION = 0.5
"""Share of pixels, the least structured ones, over which noise is measured."""

MIN_VISIBLE_FRACTION = 0.02
"""Clipped pixels are left out unless that would leave less than this share of the image."""

# Immerkær's mask: the difference of two Laplacians. It cancels any locally linear
# intensity, so on flat areas only noise remains; its L2 norm is 6.
_IMMERKAER_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
_IMMERKAER_NORM = 6.0
_STRUCTURE_WINDOW = (5, 5)


def noise_sigma(
    luma: np.ndarray,
    *,
    flat_fraction: float = FLAT_FRACTION,
    gradients: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """Estimate the std of additive Gaussian noise in ``luma`` (0–255 units), >= 0.

    Immerkær's fast estimator (mean absolute response of a noise-only filter, times
    sqrt(pi/2) / 6) taken over the ``flat_fraction`` of pixels with the least local
    gradient energy, so that edges and texture are not mistaken for noise (after Tai &
    Yang's edge exclusion), and leaving out clipped pixels (saturated, so noiseless).
    Within about 15 % of the true sigma on photos for sigma 2–20.

    References: J. Immerkær, "Fast noise variance estimation", CVIU 64(2), 1996;
    S.-C. Tai, S.-M. Yang, "A fast method for image noise estimation using Laplacian
    operator and adaptive edge detection", ISCCSP 2008.

    ``gradients`` may pass Sobel derivatives already computed for ``luma``.
    """
    if min(luma.shape[:2]) < 3:
        return float("nan")
    response = cv2.filter2D(luma, cv2.CV_32F, _IMMERKAER_KERNEL, borderType=cv2.BORDER_REFLECT)
    response = np.abs(response)
    gx, gy = gradients if gradients is not None else sobel_gradients(luma)
    structure = cv2.blur(cv2.magnitude(gx, gy), _STRUCTURE_WINDOW)
    # Clipped pixels are flat because the sensor saturated, not because it is clean: a
    # blown sky would otherwise read as "no noise". Leave them out while enough remains.
    candidates = (luma > CLIP_BLACK_LEVEL) & (luma < CLIP_WHITE_LEVEL)
    if np.count_nonzero(candidates) < MIN_VISIBLE_FRACTION * candidates.size:
        candidates = np.ones_like(candidates)
    # The cut-off only needs to be roughly the right quantile: a strided sample of about
    # a million pixels is plenty.
    step = max(1, int(np.sqrt(structure.size / 1e6)))
    sample = structure[::step, ::step][candidates[::step, ::step]]
    cutoff = np.quantile(sample, flat_fraction) if sample.size else 0.0
    flat = (structure <= cutoff) & candidates
    if not flat.any():
        return float("nan")
    mean_abs = cv2.mean(response, mask=flat.astype(np.uint8))[0]
    return float(np.sqrt(np.pi / 2.0) * mean_abs / _IMMERKAER_NORM)


def _compute(x: FeatureInput) -> dict[str, float]:
    # Native scale: shrinking averages noise away.
    return {"noise_sigma": noise_sigma(x.luma, gradients=x.gradients)}


GROUP = FeatureGroup(
    name="noise",
    specs=(
        FeatureSpec(
            "noise_sigma",
            "estimated std of sensor noise in luma at native size, 0–255 units, >= 0",
            "noise",
            Direction.HIGHER_WORSE,
            high="noisy, grainy: noise {v}",
            fmt=".1f",
        ),
    ),
    compute=_compute,
)
