"""Quality features: pure functions from pixels (and the object mask) to named numbers.

Every feature has a stable name and a one-line description with its unit and range
(:func:`feature_specs`). :func:`compute_features` runs every group over one image.

>>> from skimage import data
>>> row = compute_features(data.astronaut())
>>> 0 <= row["brightness"] <= 1
True
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from photoqc.features import (
    clipping,
    colour,
    compression,
    exposure,
    geometry,
    grid,
    naturalness,
    nima,
    noise,
    quadrants,
    regions,
    sharpness,
)
from photoqc.features.base import (
    ANALYSIS_LONG_SIDE,
    Direction,
    FeatureGroup,
    FeatureInput,
    FeatureSpec,
)

__all__ = [
    "FEATURE_GROUPS",
    "Direction",
    "FeatureGroup",
    "FeatureInput",
    "FeatureSpec",
    "compute_features",
    "feature_names",
    "feature_specs",
    "measure",
    "spec_index",
    "table_groups",
]

FEATURE_GROUPS: tuple[FeatureGroup, ...] = (
    geometry.GROUP,
    exposure.GROUP,
    clipping.GROUP,
    sharpness.GROUP,
    noise.GROUP,
    colour.GROUP,
    compression.GROUP,
    naturalness.GROUP,
    regions.GROUP,
    quadrants.GROUP,
    grid.GROUP,
)
"""The classic (network-free) feature groups, in the column order of the feature table."""


def table_groups(
    nima_models: tuple[str, ...] = nima.DEFAULT_NIMA_MODELS,
) -> tuple[FeatureGroup, ...]:
    """All groups of a feature table: the classic ones, then NIMA for ``nima_models``."""
    return (*FEATURE_GROUPS, nima.nima_group(nima_models))


def feature_specs(groups: tuple[FeatureGroup, ...] = FEATURE_GROUPS) -> tuple[FeatureSpec, ...]:
    """All feature specs (name and description), in table order."""
    return tuple(spec for group in groups for spec in group.specs)


def spec_index(groups: tuple[FeatureGroup, ...] = FEATURE_GROUPS) -> dict[str, FeatureSpec]:
    """Each feature's spec by name."""
    return {spec.name: spec for spec in feature_specs(groups)}


def feature_names(groups: tuple[FeatureGroup, ...] = FEATURE_GROUPS) -> tuple[str, ...]:
    """All feature names, in table order."""
    return tuple(spec.name for spec in feature_specs(groups))


def compute_features(
    rgb: np.ndarray,
    mask: np.ndarray | None = None,
    jpeg_quantization: Mapping[int, tuple[int, ...]] | None = None,
    *,
    groups: tuple[FeatureGroup, ...] = FEATURE_GROUPS,
    analysis_long_side: int = ANALYSIS_LONG_SIDE,
    nima: Mapping[str, tuple[float, float]] | None = None,
    jpeg_subsampling: int | None = None,
) -> dict[str, float]:
    """Compute every feature of one image.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8
        The image.
    mask : ndarray, shape (H, W), bool, optional
        The main object; None (or all False) makes the object features NaN.
    jpeg_quantization : mapping, optional
        The JPEG quantisation tables of the file, if it was a JPEG.
    groups : tuple of FeatureGroup
        Which groups to run (default: all).
    analysis_long_side : int
        Long side of the fixed analysis scale, pixels.
    nima : mapping, optional
        Predicted NIMA (mean, std) per model name, for the NIMA group.
    jpeg_subsampling : int, optional
        The file's JPEG chroma subsampling (0 4:4:4, 1 4:2:2, 2 4:2:0).

    Returns
    -------
    dict of str to float
        One value per feature name, in table order.
    """
    x = FeatureInput(rgb, mask, jpeg_quantization, analysis_long_side, nima, jpeg_subsampling)
    return measure(x, groups)


def measure(x: FeatureInput, groups: tuple[FeatureGroup, ...] = FEATURE_GROUPS) -> dict[str, float]:
    """Every feature of ``groups`` from one prepared input (whose shared views, such as the
    analysis-scale image, stay available to the caller afterwards).

    Returns
    -------
    dict of str to float
        One value per feature name, in table order.
    """
    row: dict[str, float] = {}
    for group in groups:
        values = group.compute(x)
        if set(values) != set(group.names):
            raise RuntimeError(f"feature group {group.name!r} returned {sorted(values)}")
        row.update((name, float(values[name])) for name in group.names)
    return row
