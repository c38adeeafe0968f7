"""Artefacts no camera makes: isolated black and white dots, posterised tones, solid blocks.

A phone photo has sensor noise and smooth gradients: its pixels take nearly every level
between its darkest and lightest tones, hardly any pixel is a lone black or white dot, and
no square of it is one exact colour. Broken encoders, transmission errors and crude edits
break these habits (KADID-10k's impulse noise, quantisation, colour quantisation, colour
blocks and pixelation): the three measures here are near 0 (or 1) on every one of the
600 clive-dev phone photos and far from it on such copies
(``benchmarks/bench_distortions.py``).
"""

from __future__ import annotations

import cv2
import numpy as np

from photoqc.features.inputs import FeatureInput
from photoqc.features.spec import Direction, FeatureGroup, FeatureSpec

IMPULSE_STEP = 96
"""Grey levels (0–255) a dot must differ from its 3x3 median by to count as an impulse."""

EXTREME_LEVELS = (8, 247)
"""A dot is an impulse only at the ends of the range (luma <= 8 or >= 247): salt and
pepper; a bright specular point or a fine dark line differs from its neighbours too, but
is rarely pure black or white and lone at once."""

LEVEL_SAMPLE = 250_000
"""Pixels (an even stride over the frame) whose levels are counted."""

TONE_RANGE = (0.01, 0.99)
"""Quantiles of a channel between which its used levels are counted."""

TONE_REACH = 1
"""A level counts as used when it or a level this close (either side) occurs: a contrast
stretch of up to 3x leaves single levels empty between used ones, and a shift by half a
level rounds onto every other level, yet both keep every tone they had (issue 33: they
read "85 % of tones used" before)."""

BLOCK = 4
"""Side, pixels at analysis scale, of the squares tested for one exact colour."""

MIN_SOLID_BLOCKS = 9
"""A solid patch must span at least this many squares (3x3: 12 px at analysis scale)."""

MAX_SOLID_SHARE = 0.05
"""A solid patch larger than this share of the frame is a plain background, not an
artefact: a plain backdrop is what a listing photo wants."""

CLIPPED_LEVELS = (32, 224)
"""A solid square whose every channel is at most the first or at least the second level is
near black or near white: a shadow or a sky that clipping or a JPEG encoder flattened
(clive-dev's night photos hold solid squares of levels 13–20), not a pasted block (a
random colour falls there 1 time in 250)."""

MIN_FILL = 0.9
"""A solid patch must fill this share of its bounding box (a square or a rectangle, as
pasted blocks and pixels are): flat regions of a photo have ragged outlines."""


def impulse_fraction(luma: np.ndarray) -> float:
    """Share of pixels that are lone black or white dots (salt-and-pepper noise), 0–1.

    A dot counts when its luma is at an end of the range (:data:`EXTREME_LEVELS`) and at
    least :data:`IMPULSE_STEP` levels from the median of its 3x3 neighbourhood. Phone
    photos: under 0.07 % (clive-dev's largest); 0.5 % of salted pixels reads about 0.4 %.
    """
    if min(luma.shape[:2]) < 3:
        return float("nan")
    luma = np.ascontiguousarray(luma, dtype=np.uint8)
    low, high = EXTREME_LEVELS
    extreme = (luma <= low) | (luma >= high)
    lone = cv2.absdiff(luma, cv2.medianBlur(luma, 3)) > IMPULSE_STEP
    return float(np.count_nonzero(extreme & lone)) / luma.size


def tone_levels_used(rgb: np.ndarray, sample: int = LEVEL_SAMPLE) -> float:
    """Share of the levels between a channel's 1st and 99th percentile that occur, or
    have a neighbour within :data:`TONE_REACH` that does, for the channel that uses
    fewest, 0–1.

    1.0 for every clive-dev phone photo, and for contrast stretches up to 3x; KADID's
    quantisation reads about 0.23 at level 1 and 0.05 at level 5, its colour quantisation
    0.4–0.55 at level 1 and 0.1–0.2 at level 5 (flat bands, "posterised"). Counted on up
    to ``sample`` pixels taken at an even stride, so the cost is flat in the size.
    """
    pixels = rgb.reshape(-1, 3)
    if pixels.shape[0] == 0:
        return float("nan")
    pixels = pixels[:: max(1, pixels.shape[0] // sample)]
    shares = []
    for channel in pixels.T:
        counts = np.bincount(channel, minlength=256)
        cdf = np.cumsum(counts) / counts.sum()
        low, high = np.searchsorted(cdf, TONE_RANGE)
        if high > low:  # a channel of one level (a grey or empty one) says nothing
            near = np.convolve(counts > 0, np.ones(2 * TONE_REACH + 1), mode="same") > 0
            shares.append(np.count_nonzero(near[low : high + 1]) / (high - low + 1))
    return float(min(shares)) if shares else float("nan")


def solid_block_fraction(rgb: np.ndarray, block: int = BLOCK) -> float:
    """Share of the frame in small solid rectangles of one exact colour, 0–1.

    The frame is cut into ``block`` x ``block`` squares; squares whose pixels are all
    the same colour join into patches of that colour (4-connected); a patch counts when
    it spans at least :data:`MIN_SOLID_BLOCKS` squares, fills :data:`MIN_FILL` of its
    bounding box and covers at most :data:`MAX_SOLID_SHARE` of the frame (a plain
    background is no defect); near-black or near-white squares are shadows or skies, not
    blocks (:data:`CLIPPED_LEVELS`). Phone photos: 0 for 94 % of clive-dev, 0.015 at most; 16
    pasted blocks of 32 px on a 512 px photo read about 0.05, coarse pixelation 0.3 and
    more.
    """
    h, w = rgb.shape[:2]
    rows, cols = h // block, w // block
    if rows < 3 or cols < 3:
        return float("nan")
    # One number per colour (exact in float32: 24 bits), then each square's largest and
    # smallest by a morphology pass anchored at its corner: 15x faster than numpy's
    # reductions over the squares' strided axes.
    cropped = rgb[: rows * block, : cols * block].astype(np.float32)
    colour = cropped[..., 0] * 65536.0 + cropped[..., 1] * 256.0 + cropped[..., 2]
    kernel = np.ones((block, block), np.uint8)
    largest = cv2.dilate(colour, kernel, anchor=(0, 0))[::block, ::block]
    smallest = cv2.erode(colour, kernel, anchor=(0, 0))[::block, ::block]
    # A near-black or near-white square is a flattened shadow or sky (a night sky, a blown
    # window), which the exposure and clipping features speak of: not an artefact.
    red, rest = np.divmod(largest, 65536.0)
    green, blue = np.divmod(rest, 256.0)
    brightest = np.maximum(np.maximum(red, green), blue)
    darkest = np.minimum(np.minimum(red, green), blue)
    clipped = (brightest <= CLIPPED_LEVELS[0]) | (darkest >= CLIPPED_LEVELS[1])
    solid = (largest == smallest) & ~clipped
    # Neighbouring solid squares of different colours are different patches (the pixels
    # of a pixelated photo): the square before each such border leaves its patch.
    apart_x = solid[:, :-1] & solid[:, 1:] & (largest[:, :-1] != largest[:, 1:])
    apart_y = solid[:-1] & solid[1:] & (largest[:-1] != largest[1:])
    solid[:, :-1] &= ~apart_x
    solid[:-1] &= ~apart_y
    solid = np.ascontiguousarray(solid)
    if not solid.any():
        return 0.0
    _, _, stats, _ = cv2.connectedComponentsWithStats(solid.view(np.uint8), connectivity=4)
    area = stats[1:, cv2.CC_STAT_AREA]
    width, height = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
    patch = (
        (area >= MIN_SOLID_BLOCKS)
        & (area <= MAX_SOLID_SHARE * solid.size)
        & (area >= MIN_FILL * width * height)
        & (np.minimum(width, height) >= 3)
    )
    return float(area[patch].sum()) / solid.size


def _compute(x: FeatureInput) -> dict[str, float]:
    windows = x.native_luma
    impulses = [impulse_fraction(luma) for luma in windows]
    sizes = [luma.size for luma in windows]
    return {
        # Dots are single native pixels: a shrunk photo averages them away.
        "impulse_fraction": float(np.average(impulses, weights=sizes))
        if np.isfinite(impulses).all()
        else float("nan"),
        "tone_levels_used": tone_levels_used(x.rgb),
        "solid_block_fraction": solid_block_fraction(x.rgb_small),
    }


GROUP = FeatureGroup(
    name="artefacts",
    specs=(
        FeatureSpec(
            "impulse_fraction",
            "share of pixels that are lone black or white dots (salt-and-pepper), 0–1 "
            "(phone photos < 0.001)",
            "noise",
            Direction.HIGHER_WORSE,
            high="speckled with lone black and white dots: {v} of the pixels",
            fmt=".2%",
            short="lone black and white dots",
        ),
        FeatureSpec(
            "tone_levels_used",
            "share of tone levels used (or next to a used one) between the 1st and 99th "
            "percentile, fewest-used channel, 0–1 (phone photos 1.0; posterised < 0.6)",
            "colour",
            Direction.HIGHER_BETTER,
            low="posterised: flat bands of colour, only {v} of the tones used",
            fmt=".0%",
            short="tone levels used",
        ),
        FeatureSpec(
            "solid_block_fraction",
            "share of the frame in small solid rectangles of one exact colour, 0–1 "
            "(phone photos mostly 0, at most 0.015; pasted blocks or pixelation > 0.02)",
            "detail",
            Direction.HIGHER_WORSE,
            high="solid blocks with no detail: {v} of the frame",
            fmt=".1%",
            short="solid blocks",
        ),
    ),
    compute=_compute,
)
