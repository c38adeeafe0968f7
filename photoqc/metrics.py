"""Full-reference measures of a copy against its original: how much of it the copy kept.

They label synthetic training copies (:mod:`photoqc.synthetic`) by what they lost, and are
kept apart from the generators, as scikit-image keeps ``skimage.metrics`` apart from
``skimage.util.random_noise``. Each takes two RGB uint8 images of one size.
"""

from __future__ import annotations

import cv2
import numpy as np

GMSD_LOST = 0.35
"""The GMSD at which a copy counts as having lost everything (fidelity 0): above the
level-5 value of every KADID-10k type on clive-dev photos (blur 0.21, pixelation 0.31)."""

_PREWITT = np.array([[1, 0, -1]] * 3, np.float32) / 3.0


def gmsd(original: np.ndarray, copy: np.ndarray) -> float:
    """Gradient magnitude similarity deviation of ``copy`` against ``original``, >= 0 (0
    for identical images, about 0.35 for the worst).

    Luma halved by 2x2 averaging, Prewitt gradient magnitudes, their per-pixel similarity
    ``(2 m1 m2 + c) / (m1^2 + m2^2 + c)`` with c = 170 (0–255 units), and the standard
    deviation of that map: damage in one part of the frame (pasted blocks, moved patches,
    salt and pepper) shows as unevenness that a mean would dilute.

    Reference: W. Xue, L. Zhang, X. Mou, A. C. Bovik, "Gradient Magnitude Similarity
    Deviation: A Highly Efficient Perceptual Image Quality Index", IEEE TIP 23(2), 2014.
    """

    def magnitude(image: np.ndarray) -> np.ndarray:
        luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        luma = cv2.blur(luma, (2, 2), anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)[::2, ::2]
        gx = cv2.filter2D(luma, -1, _PREWITT, borderType=cv2.BORDER_REPLICATE)
        gy = cv2.filter2D(luma, -1, _PREWITT.T, borderType=cv2.BORDER_REPLICATE)
        return np.hypot(gx, gy)

    a, b = magnitude(original), magnitude(copy)
    similarity = (2 * a * b + 170.0) / (a * a + b * b + 170.0)
    return float(similarity.std(dtype=np.float64))


def fidelity(original: np.ndarray, copy: np.ndarray) -> float:
    """Full-reference similarity of ``copy`` to ``original``, 0–1, 1 for identical images:
    the worse of two measures, each blind where the other sees.

    - mean SSIM over the Lab channels (light and both colour axes): colour changes and
      noise spread over the whole frame;
    - ``1 - GMSD / GMSD_LOST`` (:func:`gmsd`, clipped to 0–1): structural damage, even in
      one part of the frame (mean SSIM called 16 pasted colour blocks 0.955, a level-1
      blur; GMSD 0.16, a level-4 one).
    """
    from skimage.metrics import structural_similarity

    a, b = _lab(original), _lab(copy)
    ssim = float(
        np.mean([structural_similarity(a[..., c], b[..., c], data_range=255.0) for c in range(3)])
    )
    return min(ssim, float(np.clip(1.0 - gmsd(original, copy) / GMSD_LOST, 0.0, 1.0)))


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
