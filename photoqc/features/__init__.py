"""Quality features: pure functions from pixels (and the object mask) to named numbers.

Every feature has a stable name and a one-line description with its unit and range
(:func:`feature_specs`). :func:`compute_features` runs every group over one image.

>>> from skimage import data
>>> row = compute_features(data.astronaut())
>>> 0 <= row["brightness"] <= 1
True
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import Future

import numpy as np

from photoqc.features import (
    artefacts,
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
from photoqc.features.inputs import ANALYSIS_LONG_SIDE, FeatureInput
from photoqc.features.spec import Direction, FeatureGroup, FeatureSpec

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
    artefacts.GROUP,
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


NATIVE_TILE_GROUPS = ("noise", "compression")
"""Groups that read only a large photo's native tiles (:attr:`FeatureInput.native_windows`):
measured beside the analysis-scale groups, on a second thread (see :func:`measure`)."""


def measure(
    x: FeatureInput,
    groups: tuple[FeatureGroup, ...] = FEATURE_GROUPS,
    *,
    split_large: bool = True,
) -> dict[str, float]:
    """Every feature of ``groups`` from one prepared input (whose shared views, such as the
    analysis-scale image, stay available to the caller afterwards).

    With ``split_large``, a photo large enough to be measured on native tiles has its tile
    work (the tiles' views, noise and blocking) done on a second thread while this one
    makes the analysis-scale views and measures what reads them: OpenCV and numpy release
    the GIL, so a 12 MP photo takes about two thirds of the time on two cores
    (``benchmarks/bench_features.py``). The values are the same either way (each view is
    computed once, by the half that uses it).

    Returns
    -------
    dict of str to float
        One value per feature name, in table order.
    """
    tiled = [g for g in groups if g.name in NATIVE_TILE_GROUPS]
    if not (split_large and tiled and len(tiled) < len(groups) and len(x.native_windows) > 1):
        return _measure(x, groups)
    x.luma  # noqa: B018  (both halves start from native luma: made once, here)
    tiles = _on_a_thread(lambda: _tile_views_then(x, tiled))
    # The groups that read the tiles' views as well as analysis-scale ones wait for both.
    both = [g for g in groups if g.name == "sharpness"]
    row = _measure(x, tuple(g for g in groups if g not in tiled and g not in both))
    row.update(tiles.result())
    row.update(_measure(x, tuple(both)))
    return {name: row[name] for group in groups for name in group.names}


def _tile_views_then(x: FeatureInput, groups: list[FeatureGroup]) -> dict[str, float]:
    x.luma_histogram  # noqa: B018  (native, like the tiles: made on this thread)
    x.native_gradients  # noqa: B018
    x.native_rgb  # noqa: B018
    return _measure(x, tuple(groups))


def _on_a_thread(work) -> Future:
    """``work()`` started on a thread of its own; its result (or exception) in a future."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:  # handed to whoever waits on the future
            future.set_exception(exc)

    threading.Thread(target=run, name="photoqc-tiles", daemon=True).start()
    return future


def _measure(x: FeatureInput, groups: tuple[FeatureGroup, ...]) -> dict[str, float]:
    row: dict[str, float] = {}
    for group in groups:
        values = group.compute(x)
        if set(values) != set(group.names):
            raise RuntimeError(f"feature group {group.name!r} returned {sorted(values)}")
        row.update((name, float(values[name])) for name in group.names)
    return row
