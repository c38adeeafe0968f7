"""Object versus background: where the main object is and how it stands out.

The mask comes from the segmenter. Without one (segmenter ``none``, or nothing found) the
object features are NaN and ``object_found`` is 0; LightGBM treats NaN as missing.
"""

from __future__ import annotations

import cv2
import numpy as np

from photoqc.features.inputs import FeatureInput
from photoqc.features.sharpness import laplacian_response, masked_variance
from photoqc.features.spec import Direction, FeatureGroup, FeatureSpec, nan_features
from photoqc.features.stats import labelled_mean_std, relative_contrast

BORDER_MARGIN = 0.005
"""Margin, as a fraction of the side, within which object pixels count as touching the frame."""

EDGE_BAND_PX = 3
"""Pixels (analysis scale) kept clear on each side of the outline in the sharpness regions,
so the object's silhouette is not counted as background detail."""

_SHARPNESS_RATIO_FLOOR = 1e-3


def touches_border(mask: np.ndarray, *, margin: float = BORDER_MARGIN) -> bool:
    """True when any object pixel lies within ``margin`` (fraction of the side) of the frame."""
    h, w = mask.shape
    my = max(1, round(margin * h))
    mx = max(1, round(margin * w))
    return bool(mask[:my].any() or mask[-my:].any() or mask[:, :mx].any() or mask[:, -mx:].any())


def sharpness_regions(mask: np.ndarray, band: int = EDGE_BAND_PX) -> tuple[np.ndarray, np.ndarray]:
    """(object interior, background away from the object) for region sharpness."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    m = mask.astype(np.uint8)
    inner = cv2.erode(m, kernel, borderType=cv2.BORDER_REPLICATE).astype(bool)
    outer = ~cv2.dilate(m, kernel).astype(bool)
    # A thin object has no interior left: fall back to all of it rather than report nothing.
    return (inner if inner.any() else mask), outer


NAMES = (
    "object_found",
    "object_area_fraction",
    "object_touches_border",
    "object_brightness",
    "object_contrast",
    "background_brightness",
    "background_contrast",
    "object_background_brightness_diff",
    "object_background_contrast_diff",
    "object_sharpness",
    "background_sharpness",
    "object_background_sharpness_ratio",
)


def _compute(x: FeatureInput) -> dict[str, float]:
    out = nan_features(NAMES)
    out["object_found"] = float(x.object_found)
    if x.mask is None or x.mask_small is None:
        return out
    small = x.mask_small
    _, means, stds = labelled_mean_std(x.luma_small / 255.0, small.astype(np.intp), 2)
    stds = relative_contrast(means, stds)
    lap = laplacian_response(x.luma_small)
    inner, outer = sharpness_regions(small)
    obj_sharp = masked_variance(lap, inner)
    bg_sharp = masked_variance(lap, outer)
    out.update(
        object_area_fraction=float(np.count_nonzero(x.mask) / x.mask.size),
        object_touches_border=float(touches_border(x.mask)),
        object_brightness=means[1],
        object_contrast=stds[1],
        background_brightness=means[0],
        background_contrast=stds[0],
        object_background_brightness_diff=means[1] - means[0],
        object_background_contrast_diff=stds[1] - stds[0],
        object_sharpness=obj_sharp,
        background_sharpness=bg_sharp,
        object_background_sharpness_ratio=obj_sharp / max(bg_sharp, _SHARPNESS_RATIO_FLOOR),
    )
    return {k: float(v) for k, v in out.items()}


_OBJECT_BRIGHTER = "background much darker than the object"
_OBJECT_DARKER = "object much darker than the background"
WHOLE_FRAME_BRIGHTNESS = ("quadrant_brightest_brightness", "brightness")
"""A region's darkness that even the brightest quarter shares is said of the whole photo."""


def light_specs(
    prefix: str,
    subject: str,
    where: str,
    *,
    brightness: str = "brightness",
    flat_is_defect: bool = True,
) -> tuple[FeatureSpec, FeatureSpec]:
    """Specs of a region's brightness and relative contrast.

    Parameters
    ----------
    prefix : str
        Column prefix (``q_tl_object``): names ``<prefix>_brightness``, ``<prefix>_contrast``.
    subject : str
        The region in reasons ("object in the top-left quarter").
    where : str
        The region in descriptions ("of the object in the top-left quarter").
    brightness : str
        The brightness column's last word.
    flat_is_defect : bool
        Whether low contrast is a reason. Not for a background: a plain, low-detail
        background is what a listing photo wants.
    """
    return (
        FeatureSpec(
            f"{prefix}_{brightness}",
            f"mean luma {where}, 0–1",
            "exposure",
            low=f"dark {subject}: brightness {{v}}",
            high=f"glaring {subject}: brightness {{v}}",
            whole_frame=WHOLE_FRAME_BRIGHTNESS,
        ),
        FeatureSpec(
            f"{prefix}_contrast",
            f"relative RMS contrast (std / mean of luma) {where}, >= 0",
            "contrast",
            low=f"flat {subject}: contrast {{v}}" if flat_is_defect else "",
            high=f"harsh light on the {subject}: contrast {{v}}",
        ),
    )


def darkest_spec(name: str, part: str) -> FeatureSpec:
    """Spec of the brightness of the darkest ``part`` of the frame ("quarter")."""
    return FeatureSpec(
        name,
        f"mean luma of the darkest {part}, 0–1",
        "exposure",
        low=f"a dark part of the frame: darkest {part} brightness {{v}}",
        whole_frame=WHOLE_FRAME_BRIGHTNESS,
    )


def difference_specs(
    brightness: str, contrast: str, where: str = ""
) -> tuple[FeatureSpec, FeatureSpec]:
    """Specs of the object-minus-background brightness and contrast differences ``where``
    (e.g. " in the top-left quarter"), worded by their sign."""
    values = " ({v}; good photos: ~{t})"
    return (
        FeatureSpec(
            brightness,
            f"object minus background brightness{where}, -1–1 (positive: object brighter)",
            "object vs background",
            low=_OBJECT_DARKER + where + values,
            high=_OBJECT_BRIGHTER + where + values,
            near="object hardly stands out from the background in brightness" + where + values,
        ),
        FeatureSpec(
            contrast,
            f"object minus background relative RMS contrast{where}",
            "object vs background",
            low="object flatter than the background" + where + values,
            # A background plainer than the object is what a listing photo wants.
            near="object and background alike in contrast" + where + values,
        ),
    )


GROUP = FeatureGroup(
    name="regions",
    specs=(
        FeatureSpec(
            "object_found",
            "1 when the segmenter found a main object, else 0",
            "framing",
            low="no clear main object found",
        ),
        FeatureSpec(
            "object_area_fraction",
            "share of the photo covered by the object, 0–1",
            "framing",
            low="object small in the frame: {v} of the photo",
            high="object crammed into the frame: {v} of the photo",
            fmt=".1%",
        ),
        FeatureSpec(
            "object_touches_border",
            f"1 when the object reaches the frame (within {BORDER_MARGIN:.1%} of a side), else 0",
            "framing",
            high="object cut off at the edge of the frame",
        ),
        *light_specs("object", "object", "of the object"),
        *light_specs("background", "background", "of the background", flat_is_defect=False),
        *difference_specs("object_background_brightness_diff", "object_background_contrast_diff"),
        FeatureSpec(
            "object_sharpness",
            "variance of the Laplacian inside the object (analysis scale), luma units^2, >= 0",
            "sharpness",
            Direction.HIGHER_BETTER,
            fmt=".0f",
        ),
        # Raw sharpness judges but does not speak (darkening lowers it too); a soft
        # background behind a sharp object is shallow depth of field, never a defect.
        FeatureSpec(
            "background_sharpness",
            "variance of the Laplacian in the background away from the object, luma units^2, >= 0",
            "sharpness",
            fmt=".0f",
        ),
        FeatureSpec(
            "object_background_sharpness_ratio",
            "object / background sharpness, >= 0 (above 1: object sharper, e.g. shallow focus)",
            "sharpness",
            low="object softer than the background, focus missed? (ratio {v}; good photos: ~{t})",
        ),
    ),
    compute=_compute,
)
