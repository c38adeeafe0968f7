"""Light across the frame: brightness and contrast per quarter, for object and background.

The OLX finding: good listing photos have light that is consistent across the picture, so
each quarter of the photo (tl, tr, bl, br: top-left ... bottom-right) is measured as a
whole and split into object and background, and the darkest and brightest quarters are
compared. Contrast here is relative RMS contrast (std / mean of luma), which exposure does
not change: a dark quarter shows in its brightness, a flat one in its contrast.
"""

from __future__ import annotations

import numpy as np

from photoqc.features.inputs import FeatureInput
from photoqc.features.regions import darkest_spec, difference_specs, light_specs
from photoqc.features.spec import Direction, FeatureGroup, FeatureSpec
from photoqc.features.stats import grid_labels, labelled_mean_std, relative_contrast
from photoqc.features.wording import POSITION_WORDS

QUADRANTS = ("tl", "tr", "bl", "br")


def quadrant_labels(shape: tuple[int, int]) -> np.ndarray:
    """Per-pixel quadrant index (0 tl, 1 tr, 2 bl, 3 br) for an image of ``shape``."""
    return grid_labels(shape, 2)


def _names() -> tuple[str, ...]:
    names: list[str] = []
    for q in QUADRANTS:
        names += [
            f"q_{q}_brightness",
            f"q_{q}_contrast",
            f"q_{q}_object_brightness",
            f"q_{q}_object_contrast",
            f"q_{q}_background_brightness",
            f"q_{q}_background_contrast",
            f"q_{q}_brightness_diff",
            f"q_{q}_contrast_diff",
        ]
    return (
        *names,
        "quadrant_darkest_brightness",
        "quadrant_brightest_brightness",
        "quadrant_brightness_gap",
    )


NAMES = _names()


def _compute(x: FeatureInput) -> dict[str, float]:
    luma = x.luma_small / 255.0
    quad = quadrant_labels(luma.shape)
    _, q_mean, q_std = labelled_mean_std(luma, quad, 4, min_pixels=1)
    q_std = relative_contrast(q_mean, q_std)
    if x.mask_small is not None:
        # Label 2q + 1 is the object's part of quadrant q, 2q the background's.
        _, r_mean, r_std = labelled_mean_std(luma, quad * 2 + x.mask_small, 8)
        r_std = relative_contrast(r_mean, r_std)
    else:
        r_mean = r_std = np.full(8, np.nan)
    out: dict[str, float] = {}
    for i, q in enumerate(QUADRANTS):
        obj_m, obj_s, bg_m, bg_s = r_mean[2 * i + 1], r_std[2 * i + 1], r_mean[2 * i], r_std[2 * i]
        out[f"q_{q}_brightness"] = float(q_mean[i])
        out[f"q_{q}_contrast"] = float(q_std[i])
        out[f"q_{q}_object_brightness"] = float(obj_m)
        out[f"q_{q}_object_contrast"] = float(obj_s)
        out[f"q_{q}_background_brightness"] = float(bg_m)
        out[f"q_{q}_background_contrast"] = float(bg_s)
        out[f"q_{q}_brightness_diff"] = float(obj_m - bg_m)
        out[f"q_{q}_contrast_diff"] = float(obj_s - bg_s)
    present = q_mean[~np.isnan(q_mean)]
    darkest = float(present.min()) if present.size else float("nan")
    brightest = float(present.max()) if present.size else float("nan")
    out["quadrant_darkest_brightness"] = darkest
    out["quadrant_brightest_brightness"] = brightest
    out["quadrant_brightness_gap"] = brightest - darkest
    return out


def _quarter_specs(q: str) -> tuple[FeatureSpec, ...]:
    quarter = f"{POSITION_WORDS[q]} quarter"
    where = f"in the {quarter}"
    return (
        *light_specs(f"q_{q}", quarter, where),
        *light_specs(f"q_{q}_object", f"object {where}", f"of the object {where}"),
        *light_specs(
            f"q_{q}_background",
            f"background {where}",
            f"of the background {where}",
            flat_is_defect=False,
        ),
        *difference_specs(f"q_{q}_brightness_diff", f"q_{q}_contrast_diff", f" {where}"),
    )


def _specs() -> tuple[FeatureSpec, ...]:
    return (
        *(spec for q in QUADRANTS for spec in _quarter_specs(q)),
        darkest_spec("quadrant_darkest_brightness", "quarter"),
        FeatureSpec(
            "quadrant_brightest_brightness",
            "mean luma of the brightest quarter, 0–1",
            "exposure",
            low="brightest quarter only {v}",
            high="a glaring quarter: brightest quarter brightness {v}",
        ),
        FeatureSpec(
            "quadrant_brightness_gap",
            "brightest minus darkest quarter brightness, 0–1",
            "uneven light",
            Direction.HIGHER_WORSE,
            high="uneven light across the frame: quarters differ by {v} in brightness",
        ),
    )


GROUP = FeatureGroup(name="quadrants", specs=_specs(), compute=_compute)
