"""The words features are said in to a moderator: the parts of the frame, and the plain
words for the technical terms of feature descriptions."""

from __future__ import annotations

import re

POSITION_WORDS = {
    "tl": "top-left",
    "tc": "top-centre",
    "tr": "top-right",
    "ml": "left-middle",
    "mc": "centre",
    "mr": "right-middle",
    "bl": "bottom-left",
    "bc": "bottom-centre",
    "br": "bottom-right",
}
"""One wording for parts of the frame (quarters and 3x3 cells), in descriptions and reasons."""


PLAIN_WORDS: tuple[tuple[str, str], ...] = (
    (
        r"excess kurtosis of the MSCN coefficients \(0 Gaussian; higher peakier\)",
        "how peaked fine texture is (high: smoothed, as by blur)",
    ),
    (r"generalised-Gaussian shape of the MSCN coefficients", "how natural fine texture looks"),
    (r"variance of the MSCN coefficients", "strength of fine texture"),
    (r"skewness of the MSCN coefficients", "lopsidedness of fine texture"),
    (
        r"asymmetric-GGD shape of neighbouring MSCN products",
        "how natural texture looks between neighbouring pixels",
    ),
    (
        r"asymmetric-GGD mean of neighbouring MSCN products",
        "balance of texture between neighbouring pixels",
    ),
    (
        r"left \(negative-side\) variance of neighbouring MSCN products",
        "texture across edges between neighbouring pixels",
    ),
    (
        r"right \(positive-side\) variance of neighbouring MSCN products",
        "texture along edges between neighbouring pixels",
    ),
    (r"(\d+)th percentile of local luma spread \(7x7 window\)", r"local detail (\1th percentile)"),
    (
        r"coefficient of variation of local luma spread over the photo",
        "how unevenly detail is spread over the photo",
    ),
    (r"mean HSV value \(brightest of R.*", "brightness of the centre"),
    (r"(?:relative )?RMS contrast \(std(?: / mean)? of luma\)", "contrast"),
    (r"relative RMS contrast", "contrast"),
    (r"variance of the Laplacian over the variance of luma", "fine detail for the contrast"),
    (r"variance of the Laplacian(?: of luma)?|Laplacian variance", "sharpness"),
    (r"mean squared Sobel gradient of luma", "edge strength"),
    (r"over the variance of luma", "for the contrast"),
    (r"estimated from the quantisation tables", ""),
    (r"cell of a 3x3 grid", "ninth of the frame"),
    (r"ninth \(of a 3x3 grid\)", "ninth of the frame"),
    (r"of the 9 cells", "of the nine parts of the frame"),
    (r"a 12x12 tiling", "the frame cut in small tiles"),
    (r"estimated std of colour noise.*", "colour speckle (noise)"),
    (r"estimated std of sensor noise in luma", "sensor noise"),
    (r"Hasler–Süsstrunk colourfulness", "colourfulness"),
    (r" \(98th percentile of tiles\)", ""),
    (r" \(fine detail per unit of contrast; darkening leaves it\)", ""),
    (r"NIMA (\w+) score: mean of the predicted 1–10 distribution", r"NIMA \1 score (1–10)"),
    (r"NIMA (\w+) spread: std of the predicted 1–10 distribution", r"NIMA \1 score's spread"),
    (r"mean luma", "brightness"),
    (r"\bluma\b", "brightness"),
    (r" ?\((?:at )?analysis scale\)", ""),
    (r" at analysis scale(?: \(long side \d+ px\))?", ""),
    (r"\(half scale\)", "(at half size)"),
    (r"\(quarter scale\)", "(at a quarter of the size)"),
    (r"at native size", "at full size"),
)
"""Technical terms of feature descriptions (MSCN, Laplacian, luma, 3x3 grid...) and the
plain words moderators read instead, in charts and tables (:attr:`FeatureSpec.label`)."""


def plain_words(text: str) -> str:
    """``text`` with the technical terms of :data:`PLAIN_WORDS` said plainly."""
    for pattern, words in PLAIN_WORDS:
        text = re.sub(pattern, words, text)
    return " ".join(text.split())
