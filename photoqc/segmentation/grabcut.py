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

from photoqc.segmentation.base import (
    CentredCutSegmenter,
    centred_rectangle,
    largest_component,
)
from photoqc.segmentation.registry import GRABCUT

logger = logging.getLogger(__name__)

GRABCUT_LONG_SIDE = int(GRABCUT.defaults["long_side"])
"""Long side in pixels at which GrabCut runs (about 0.3 s per photo on one core)."""

GRABCUT_MARGIN = float(GRABCUT.defaults["margin"])
"""Share of each side left outside the initial rectangle (sure background)."""

GRABCUT_ITERATIONS = int(GRABCUT.defaults["iterations"])


class GrabCutSegmenter(CentredCutSegmenter):
    """OpenCV GrabCut from a centred rectangle; keeps the largest connected component.

    Parameters
    ----------
    long_side, margin, iterations
        As :class:`photoqc.segmentation.base.CentredCutSegmenter`.
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
        super().__init__(long_side, margin, iterations)
        self.seed = seed

    def cut(self, small: np.ndarray) -> np.ndarray | None:
        labels = np.zeros(small.shape[:2], np.uint8)
        bgd = np.zeros((1, 65), np.float64)
        fgd = np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(self.seed)
        try:
            cv2.grabCut(
                small,
                labels,
                centred_rectangle(small.shape, self.margin),
                bgd,
                fgd,
                self.iterations,
                cv2.GC_INIT_WITH_RECT,
            )
        except cv2.error as exc:  # e.g. a flat image gives degenerate colour models
            logger.debug("GrabCut failed: %s", exc)
            return None
        return largest_component((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD))


def build(settings: dict[str, object], weights_file: str | None = None) -> GrabCutSegmenter:
    """The GrabCut segmenter with the registry's ``settings`` (it needs no weights)."""
    return GrabCutSegmenter.from_settings(settings)
