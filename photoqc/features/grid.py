"""Light and detail on a 3x3 grid (the rule-of-thirds cells).

Quarters (``quadrants``) say whether one side of the photo is in shadow; the thirds grid
adds the centre, where the subject of an everyday photo usually is, and the edges between.
Each cell gets its brightness, relative contrast and sharpness; the centre also its HSV
value (brightest colour channel); then the darkest cell, the
sharpest cell and how sharp the centre is against the sharpest cell (a photo whose centre is
soft while an edge is crisp has missed its focus). Cells are named by row (t, m, b: top,
middle, bottom) and column (l, c, r: left, centre, right): ``cell_mc`` is the centre.
On the clive-dev photos this group raised cross-validated ROC-AUC by 0.011 without NIMA
(``benchmarks/results/clive_accuracy.txt``).
"""

from __future__ import annotations

import cv2
import numpy as np

from photoqc.features.inputs import FeatureInput
from photoqc.features.regions import (
    WHOLE_FRAME_BRIGHTNESS,
    darkest_spec,
    light_specs,
)
from photoqc.features.sharpness import laplacian_response
from photoqc.features.spec import Direction, FeatureGroup, FeatureSpec
from photoqc.features.stats import MIN_REGION_PIXELS, relative_contrast
from photoqc.features.wording import POSITION_WORDS

ROWS = ("t", "m", "b")
COLUMNS = ("l", "c", "r")
CELLS = tuple(r + c for r in ROWS for c in COLUMNS)


def cell_edges(length: int, n: int = 3) -> list[int]:
    """Boundaries of ``n`` near-equal bands over ``length`` pixels: band ``k`` is
    ``[edges[k], edges[k + 1])``; pixel ``i`` is in band ``floor(n * i / length)``, as in
    :func:`photoqc.features.stats.grid_labels`."""
    return [-(-k * length // n) for k in range(n + 1)]


def _cell_stats(values: np.ndarray, rows: list[int], cols: list[int]) -> np.ndarray:
    """(mean, std) per cell, shape (9, 2); NaN for cells under MIN_REGION_PIXELS."""
    out = np.full((9, 2), np.nan)
    for i in range(3):
        for j in range(3):
            cell = values[rows[i] : rows[i + 1], cols[j] : cols[j + 1]]
            if cell.size >= MIN_REGION_PIXELS:
                mean, std = cv2.meanStdDev(np.ascontiguousarray(cell))
                out[i * 3 + j] = mean[0, 0], std[0, 0]
    return out


def _compute(x: FeatureInput) -> dict[str, float]:
    # The cells are rectangles: slices and OpenCV's meanStdDev, no per-pixel labels.
    luma = x.luma_small
    rows, cols = cell_edges(luma.shape[0]), cell_edges(luma.shape[1])
    light = _cell_stats(luma, rows, cols) / 255.0
    mean = light[:, 0]
    contrast = relative_contrast(mean, light[:, 1])
    sharpness = _cell_stats(laplacian_response(luma), rows, cols)[:, 1] ** 2
    out: dict[str, float] = {}
    for i, cell in enumerate(CELLS):
        out[f"cell_{cell}_brightness"] = float(mean[i])
        out[f"cell_{cell}_contrast"] = float(contrast[i])
        out[f"cell_{cell}_sharpness"] = float(sharpness[i])
    # The centre's HSV value (brightest channel) tells a dim subject from a dark but
    # saturated one, which luma alone confuses; it earned its place on clive-dev.
    centre = x.rgb_small[rows[1] : rows[2], cols[1] : cols[2]]
    measured_centre = centre.shape[0] * centre.shape[1] >= MIN_REGION_PIXELS
    out["cell_mc_value"] = float(centre.max(axis=2).mean()) / 255.0 if measured_centre else np.nan
    measured = ~np.isnan(mean)
    out["cell_darkest_brightness"] = float(mean[measured].min()) if measured.any() else np.nan
    sharpest = float(sharpness[measured].max()) if measured.any() else np.nan
    out["cell_sharpest_sharpness"] = sharpest
    centre_sharpness = sharpness[CELLS.index("mc")]
    out["cell_centre_sharpness_share"] = (
        float(centre_sharpness / sharpest) if sharpest > 0 else np.nan
    )
    return out


def _cell_specs(cell: str) -> tuple[FeatureSpec, ...]:
    part = f"{POSITION_WORDS[cell]} of the frame"
    where = f"in the {POSITION_WORDS[cell]} cell of a 3x3 grid"
    sharpness = FeatureSpec(
        f"cell_{cell}_sharpness",
        f"variance of the Laplacian of luma {where}, analysis scale, luma units^2, >= 0",
        "sharpness",
        Direction.HIGHER_BETTER,
        fmt=".0f",
    )
    return (*light_specs(f"cell_{cell}", part, where), sharpness)


def _specs() -> tuple[FeatureSpec, ...]:
    return (
        *(spec for cell in CELLS for spec in _cell_specs(cell)),
        FeatureSpec(
            "cell_mc_value",
            "mean HSV value (brightest of R, G, B) in the centre cell, 0–1",
            "exposure",
            low="dim centre of the frame: value {v}",
            high="glaring centre of the frame: value {v}",
            whole_frame=WHOLE_FRAME_BRIGHTNESS,
        ),
        darkest_spec("cell_darkest_brightness", "ninth (of a 3x3 grid)"),
        FeatureSpec(
            "cell_sharpest_sharpness",
            "Laplacian variance of the sharpest of the 9 cells, luma units^2, >= 0",
            "sharpness",
            Direction.HIGHER_BETTER,
            fmt=".0f",
        ),
        FeatureSpec(
            "cell_centre_sharpness_share",
            "centre cell's sharpness / sharpest cell's, 0–1 (low: focus off the centre)",
            "sharpness",
            low="centre softer than the rest, focus missed? "
            "(centre / sharpest cell {v}; good photos: ~{t})",
        ),
    )


GROUP = FeatureGroup(name="grid", specs=_specs(), compute=_compute)
