"""GrabCut segmentation: the weight-free fallback when Mask R-CNN's weights are not available.

Listing photos usually frame the item in the middle, so GrabCut starts from a centred
rectangle (everything outside it is background) and refines the colour models. It runs at
a small analysis size (long side 240 px by default: about 0.3 s on one core) and
the mask is scaled back up to the image size.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from photoqc.segmentation.base import SegmentationResult, full_size_result, shrink_long_side
from photoqc.segmentation.registry import GRABCUT

logger = logging.getLogger(__name__)

GRABCUT_LONG_SIDE = int(GRABCUT.defaults["long_side"])
"""Long side in pixels at which GrabCut runs (about 0.3 s per photo on one core)."""

GRABCUT_MARGIN = float(GRABCUT.defaults["margin"])
"""Share of each side left outside the initial rectangle (sure background)."""

GRABCUT_ITERATIONS = int(GRABCUT.defaults["iterations"])

MIN_OBJECT_FRACTION = 0.01
"""Smaller results (share of the image) are taken as "no object found"."""

_MIN_SIDE = 16  # below this GrabCut's colour models have too few samples


class GrabCutSegmenter:
    """OpenCV GrabCut from a centred rectangle; keeps the largest connected component.

    Parameters
    ----------
    long_side : int
        Analysis size (long side, pixels).
    margin : float
        Fraction of each side outside the initial rectangle, 0–0.5.
    iterations : int
        GrabCut iterations.
    seed : int
        Seed of OpenCV's random generator (GrabCut's k-means start), for repeatable masks.
    """

    name = "grabcut"

    def __init__(
        self,
        long_side: int = GRABCUT_LONG_SIDE,
        margin: float = GRABCUT_MARGIN,
        iterations: int = GRABCUT_ITERATIONS,
        seed: int = 0,
    ):
        if not 0 < margin < 0.5:
            raise ValueError(f"margin must be in (0, 0.5), got {margin}")
        self.long_side = long_side
        self.margin = margin
        self.iterations = iterations
        self.seed = seed

    def segment(self, image: np.ndarray) -> SegmentationResult:
        h, w = image.shape[:2]
        small, scale = shrink_long_side(image, self.long_side)
        sh, sw = small.shape[:2]
        if min(sh, sw) < _MIN_SIDE:
            return SegmentationResult(mask=None, segmenter=self.name)
        mx, my = max(1, round(self.margin * sw)), max(1, round(self.margin * sh))
        rect = (mx, my, sw - 2 * mx, sh - 2 * my)
        labels = np.zeros((sh, sw), np.uint8)
        bgd = np.zeros((1, 65), np.float64)
        fgd = np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(self.seed)
        try:
            cv2.grabCut(
                np.ascontiguousarray(small),
                labels,
                rect,
                bgd,
                fgd,
                self.iterations,
                cv2.GC_INIT_WITH_RECT,
            )
        except cv2.error as exc:  # e.g. a flat image gives degenerate colour models
            logger.debug("GrabCut failed: %s", exc)
            return SegmentationResult(mask=None, segmenter=self.name)
        fg = largest_component((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD))
        return full_size_result(fg, (w, h), scale, self.name, MIN_OBJECT_FRACTION)


def build(settings: dict[str, object], weights_file: str | None = None) -> GrabCutSegmenter:
    """The GrabCut segmenter with the registry's ``settings`` (it needs no weights)."""
    return GrabCutSegmenter(
        long_side=int(settings["long_side"]),
        margin=float(settings["margin"]),
        iterations=int(settings["iterations"]),
    )


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a boolean mask (all False stays all False)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    if count <= 2:
        return mask.astype(bool)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest
