"""Size and shape of the photo."""

from __future__ import annotations

from photoqc.features.base import FeatureGroup, FeatureInput, FeatureSpec


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
        FeatureSpec("width", "width after EXIF rotation, pixels, >= 1"),
        FeatureSpec("height", "height after EXIF rotation, pixels, >= 1"),
        FeatureSpec("megapixels", "width x height, millions of pixels, > 0"),
        FeatureSpec("aspect_ratio", "width / height, > 0 (above 1 is landscape)"),
    ),
    compute=_compute,
)
