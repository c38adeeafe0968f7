"""JPEG compression: its strength from the file's tables, and its visible damage.

The tables say how hard the file was compressed, but a photo saved over and over, or
blocky before it was saved at high quality, or not a JPEG at all any more, shows its
damage only in the pixels: the 8x8 block grid (:func:`blockiness`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from photoqc.features.inputs import FeatureInput
from photoqc.features.spec import Direction, FeatureGroup, FeatureSpec

# ITU-T T.81 (JPEG) Annex K tables, natural (row-major) order: the base tables that
# libjpeg scales for its 1–100 quality setting.
_STD_LUMA = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
     14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
     18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    dtype=np.float64,
)  # fmt: skip
_STD_CHROMA = np.array(
    [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
     24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99]
    + [99] * 32,
    dtype=np.float64,
)  # fmt: skip
_QUALITIES = np.arange(1, 101)


def ijg_tables(quality: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """libjpeg's (luma, chroma) quantisation tables for ``quality`` (1–100), baseline-clipped.

    Returns arrays of shape (..., 64).
    """
    q = np.asarray(quality, dtype=np.float64)[..., None]
    scale = np.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q)
    luma = np.clip(np.floor((_STD_LUMA * scale + 50.0) / 100.0), 1, 255)
    chroma = np.clip(np.floor((_STD_CHROMA * scale + 50.0) / 100.0), 1, 255)
    return luma, chroma


_IJG_LUMA, _IJG_CHROMA = ijg_tables(_QUALITIES)


def jpeg_quality(tables: Mapping[int, tuple[int, ...]] | None) -> float:
    """Estimate the libjpeg-equivalent quality (1–100) that produced ``tables``.

    The file's tables are compared with libjpeg's scaled standard tables for every quality
    and the closest (least mean absolute difference, luma table first, chroma when
    present) wins. Exact for files written by libjpeg-based encoders; for cameras with
    their own tables it gives the nearest equivalent. NaN when there are no tables.
    """
    if not tables or 0 not in tables or len(tables[0]) != 64:
        return float("nan")
    error = np.abs(_IJG_LUMA - np.asarray(tables[0], dtype=np.float64)).mean(axis=1)
    if 1 in tables and len(tables[1]) == 64:
        error += np.abs(_IJG_CHROMA - np.asarray(tables[1], dtype=np.float64)).mean(axis=1)
    return float(_QUALITIES[int(np.argmin(error))])


BLOCK = 8
"""JPEG's block size, pixels."""

CHROMA_DROPPED = {0: 0.0, 1: 0.5, 2: 0.75}
"""Share of chroma samples a JPEG drops, by Pillow's subsampling code (4:4:4, 4:2:2, 4:2:0)."""

_STEP_FLOOR = 0.5
"""Luma levels added to the typical step, so a flat image is not called blocky."""


def blockiness(luma: np.ndarray, period: int = BLOCK) -> float:
    """How much stronger luma steps are on one 8-pixel grid than off it, >= ~1.

    For columns (rows), the mean absolute luma step between neighbours is taken for each
    of the ``period`` positions modulo the grid; the strongest position's mean over the
    median position's is the blocking of that direction (any grid offset, as after a crop
    or an EXIF turn). The two directions are averaged. About 1.0–1.1 for photos without a
    block grid; 1.5–4 for JPEG at quality 10–30. Native scale: shrinking erases the grid.
    Every other row (column) is read, which halves the cost and not the answer.

    Reference: after Z. Wang, A. Bovik, B. Evans, "Blind measurement of blocking artifacts
    in images", ICIP 2000.
    """
    return pooled_blockiness([luma], period)


def pooled_blockiness(lumas: list[np.ndarray], period: int = BLOCK) -> float:
    """:func:`blockiness` of several windows of one photo (same grid phase), their mean
    steps per grid position pooled before the ratio is taken."""
    lumas = [t for t in lumas if min(t.shape[:2]) >= 4 * period]
    if not lumas:
        return float("nan")
    ratios = []
    for axis in (0, 1):
        by_phase = np.mean([_steps_by_phase(t, axis, period) for t in lumas], axis=0)
        ratios.append(by_phase.max() / (np.median(by_phase) + _STEP_FLOOR))
    return float(np.mean(ratios))


def _steps_by_phase(luma: np.ndarray, axis: int, period: int) -> np.ndarray:
    """Mean absolute step between neighbours along ``axis`` (1: columns), per position
    modulo ``period``."""
    lines = luma[::2].astype(np.int16) if axis == 0 else luma[:, ::2].T.astype(np.int16)
    steps = np.abs(np.diff(lines, axis=1)).mean(axis=0)
    usable = len(steps) // period * period
    return steps[:usable].reshape(-1, period).mean(axis=0)


def chroma_dropped(subsampling: int | None) -> float:
    """Share of colour samples the JPEG dropped (0 for 4:4:4, 0.75 for 4:2:0); NaN when
    the file is no JPEG."""
    if subsampling is None:
        return float("nan")
    return CHROMA_DROPPED.get(subsampling, float("nan"))


def _compute(x: FeatureInput) -> dict[str, float]:
    return {
        "jpeg_quality": jpeg_quality(x.jpeg_quantization),
        "jpeg_blockiness": pooled_blockiness(x.native_luma),
        "jpeg_chroma_dropped": chroma_dropped(x.jpeg_subsampling),
    }


GROUP = FeatureGroup(
    name="compression",
    specs=(
        FeatureSpec(
            "jpeg_quality",
            "JPEG quality estimated from the quantisation tables, libjpeg scale 1–100; "
            "NaN for other formats",
            "compression",
            Direction.HIGHER_BETTER,
            low="heavy JPEG compression: quality {v}",
            fmt=".0f",
        ),
        FeatureSpec(
            "jpeg_blockiness",
            "luma steps on the strongest 8-pixel grid over steps off it, native size, >= ~1 "
            "(1 none; 1.5–4 blocky JPEG)",
            "compression",
            Direction.HIGHER_WORSE,
            high="blocky compression artefacts: 8x8 block edges {v}x stronger than others",
        ),
        FeatureSpec(
            "jpeg_chroma_dropped",
            "share of colour samples the JPEG dropped (chroma subsampling), 0–0.75; NaN for "
            "other formats",
            "compression",
            Direction.HIGHER_WORSE,
        ),
    ),
    compute=_compute,
)
