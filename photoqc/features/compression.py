"""JPEG compression strength, read from the file's quantisation tables."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from photoqc.features.base import Direction, FeatureGroup, FeatureInput, FeatureSpec

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


def _compute(x: FeatureInput) -> dict[str, float]:
    return {"jpeg_quality": jpeg_quality(x.jpeg_quantization)}


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
    ),
    compute=_compute,
)
