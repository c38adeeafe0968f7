"""Size and shape of the photo."""

from __future__ import annotations

from photoqc.features.inputs import FeatureInput
from photoqc.features.spec import Direction, FeatureGroup, FeatureSpec


def _compute(x: FeatureInput) -> dict[str, float]:
    return {
        "width": float(x.width),
        "height": float(x.height),
        "megapixels": x.width * x.height / 1e6,
        "aspect_ratio": x.width / x.height,
    }


GROUP = FeatureGroup(
    name="geometry",
    specs=(
        FeatureSpec(
            "width",
            "width after EXIF rotation, pixels, >= 1",
            "resolution",
            Direction.HIGHER_BETTER,
            low="low resolution: {v} px wide",
            fmt=".0f",
        ),
        FeatureSpec(
            "height",
            "height after EXIF rotation, pixels, >= 1",
            "resolution",
            Direction.HIGHER_BETTER,
            low="low resolution: {v} px high",
            fmt=".0f",
        ),
        FeatureSpec(
            "megapixels",
            "width x height, millions of pixels, > 0",
            "resolution",
            Direction.HIGHER_BETTER,
            low="low resolution: {v} MP",
        ),
        FeatureSpec(
            "aspect_ratio",
            "width / height, > 0 (above 1 is landscape)",
            "shape",
            low="unusual shape: aspect ratio {v}",
            high="unusual shape: aspect ratio {v}",
        ),
    ),
    compute=_compute,
)
