"""Sensor noise: the standard deviation of additive noise, estimated from one photo."""

from __future__ import annotations

import cv2
import numpy as np

from photoqc.features.clipping import CLIP_BLACK_LEVEL, CLIP_WHITE_LEVEL
from photoqc.features.inputs import FeatureInput, sobel_gradients
from photoqc.features.spec import Direction, FeatureGroup, FeatureSpec

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
    return _immerkaer(luma, flat_mask(luma, flat_fraction=flat_fraction, gradients=gradients))


def _immerkaer(luma: np.ndarray, flat: np.ndarray) -> float:
    """Immerkær's estimate over the ``flat`` pixels, 0–255 units."""
    return _pooled_immerkaer([_immerkaer_part(luma, flat)])


def _immerkaer_part(channel: np.ndarray, flat: np.ndarray | None) -> tuple[int, float]:
    """(pixels, mean absolute response of Immerkær's mask) over ``flat`` (None: all)."""
    count = channel.size if flat is None else int(np.count_nonzero(flat))
    if count == 0:
        return 0, 0.0
    response = np.abs(
        cv2.filter2D(channel, cv2.CV_32F, _IMMERKAER_KERNEL, borderType=cv2.BORDER_REFLECT)
    )
    return count, cv2.mean(response, mask=None if flat is None else flat.view(np.uint8))[0]


def _pooled_immerkaer(parts: list[tuple[int, float]]) -> float:
    """Immerkær's sigma from windows' (pixels, mean absolute response), 0–255 units."""
    parts = [p for p in parts if p[0] > 0]
    if not parts:
        return float("nan")
    mean_abs = (
        parts[0][1] if len(parts) == 1 else sum(n * m for n, m in parts) / sum(n for n, _ in parts)
    )
    return float(np.sqrt(np.pi / 2.0) * mean_abs / _IMMERKAER_NORM)


def chroma_noise(rgb: np.ndarray, flat: np.ndarray | None = None) -> float:
    """Std of noise in the two colour-difference channels (Cr, Cb), 0–255 units, >= 0.

    Immerkær's estimator over ``flat`` pixels (default: all). Natural colour changes are
    smooth, so in flat regions colour speckle is noise: high-ISO sensors and Gaussian noise
    in each of R, G, B leave it, texture rarely does.
    """
    return pooled_chroma_noise([rgb], None if flat is None else [flat])


def pooled_chroma_noise(rgbs: list[np.ndarray], flats: list[np.ndarray] | None) -> float:
    """:func:`chroma_noise` over several windows of one photo, pooled."""
    if flats is None:
        flats = [None] * len(rgbs)
    if min(min(t.shape[:2]) for t in rgbs) < 3:
        return float("nan")
    ycrcbs = [cv2.cvtColor(t, cv2.COLOR_RGB2YCrCb) for t in rgbs]
    levels = []
    for channel in (1, 2):
        parts = [
            _immerkaer_part(np.ascontiguousarray(y[..., channel]), f)
            for y, f in zip(ycrcbs, flats, strict=True)
        ]
        levels.append(_pooled_immerkaer(parts))
    return float(np.mean(levels))


SAMPLE_PIXELS = 250_000
"""About how many pixels decide the flatness cut-off of :func:`flat_masks`."""


def flat_mask(
    luma: np.ndarray,
    *,
    flat_fraction: float = FLAT_FRACTION,
    gradients: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The ``flat_fraction`` of pixels with the least local gradient energy, leaving out
    clipped pixels while enough remain (bool, the shape of ``luma``)."""
    gradients = gradients if gradients is not None else sobel_gradients(luma)
    return flat_masks([luma], [gradients], flat_fraction=flat_fraction)[0]


def flat_masks(
    lumas: list[np.ndarray],
    gradients: list[tuple[np.ndarray, np.ndarray]],
    *,
    flat_fraction: float = FLAT_FRACTION,
) -> list[np.ndarray]:
    """:func:`flat_mask` of several windows of one photo, with one cut-off for all."""
    structures = [cv2.blur(cv2.magnitude(gx, gy), _STRUCTURE_WINDOW) for gx, gy in gradients]
    # Clipped pixels are flat because the sensor saturated, not because it is clean: a
    # blown sky would otherwise read as "no noise". Leave them out while enough remains.
    candidates = [(t > CLIP_BLACK_LEVEL) & (t < CLIP_WHITE_LEVEL) for t in lumas]
    total = sum(c.size for c in candidates)
    if sum(np.count_nonzero(c) for c in candidates) < MIN_VISIBLE_FRACTION * total:
        candidates = [np.ones_like(c) for c in candidates]
    # The cut-off only needs to be roughly the right quantile: a strided sample of a
    # quarter of a million pixels is plenty (a 500x500 photo is used whole; the ~1 MP of
    # a large photo's tiles every other row and column: its cut-off moves by well under
    # 1 %, and sorting it costs a quarter).
    step = max(1, int(np.sqrt(total / SAMPLE_PIXELS)))
    sample = np.concatenate(
        [s[::step, ::step][c[::step, ::step]] for s, c in zip(structures, candidates, strict=True)]
    )
    cutoff = np.quantile(sample, flat_fraction) if sample.size else 0.0
    return [(s <= cutoff) & c for s, c in zip(structures, candidates, strict=True)]


def _compute(x: FeatureInput) -> dict[str, float]:
    # Native scale (on the native tiles of a large photo): shrinking averages noise away.
    lumas = x.native_luma
    if min(min(t.shape) for t in lumas) < 3:
        return {"noise_sigma": float("nan"), "chroma_noise": float("nan")}
    flats = flat_masks(lumas, x.native_gradients)
    return {
        "noise_sigma": _pooled_immerkaer(
            [_immerkaer_part(t, f) for t, f in zip(lumas, flats, strict=True)]
        ),
        "chroma_noise": pooled_chroma_noise(x.native_rgb, flats),
    }


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
        FeatureSpec(
            "chroma_noise",
            "estimated std of colour noise (Cr, Cb) in flat areas at native size, 0–255 "
            "units, >= 0",
            "noise",
            Direction.HIGHER_WORSE,
            high="colour speckle noise: {v}",
            fmt=".1f",
        ),
    ),
    compute=_compute,
)
