"""What every segmenter returns, and the interface it implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import cv2
import numpy as np


@dataclass(frozen=True)
class SegmentationResult:
    """The main object's mask and where it came from.

    Attributes
    ----------
    mask : ndarray of bool, shape (H, W), or None
        True on the main object, at the size of the input image; None when no object was
        found or no segmentation ran.
    segmenter : str
        A registry name (:mod:`photoqc.segmentation.registry`): ``"maskrcnn"``,
        ``"fastcut"``, ``"grabcut"`` or ``"none"``.
    weights : str or None
        Identifier of the weights used (file name), None for weight-free methods.
    score : float
        Detection confidence 0–1 of the chosen object (NaN when the method has none).
    label : str or None
        Class name of the chosen object (COCO category for Mask R-CNN), if known.
    box : tuple of 4 floats or None
        Bounding box ``(x0, y0, x1, y1)`` of the object, in input-image pixels.
    """

    mask: np.ndarray | None
    segmenter: str
    weights: str | None = None
    score: float = float("nan")
    label: str | None = None
    box: tuple[float, float, float, float] | None = None

    @property
    def found(self) -> bool:
        return self.mask is not None


@runtime_checkable
class Segmenter(Protocol):
    """Finds the main object of a photo. Build once per process; call per image. One that
    holds a network (Mask R-CNN) also has ``close()``, which lets it go."""

    name: str

    def segment(self, image: np.ndarray) -> SegmentationResult:
        """Segment an (H, W, 3) uint8 RGB image."""
        ...


class NoSegmenter:
    """The ``none`` segmenter: no mask, so object features are missing."""

    name = "none"

    def segment(self, image: np.ndarray) -> SegmentationResult:
        return SegmentationResult(mask=None, segmenter=self.name)


def build(settings: dict[str, object], weights_file: str | None = None) -> NoSegmenter:
    """The ``none`` segmenter (registry entry point; it has no settings)."""
    return NoSegmenter()


def mask_box(mask: np.ndarray, scale: float = 1.0) -> tuple[float, float, float, float]:
    """Bounding box (x0, y0, x1, y1) of a non-empty mask, divided by ``scale``."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    x0, y0, x1, y1 = xs[0], ys[0], xs[-1] + 1, ys[-1] + 1
    return (x0 / scale, y0 / scale, x1 / scale, y1 / scale)


def upsample_mask(fraction: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a soft mask (0–1 floats) to ``size`` = (width, height) and threshold at 0.5."""
    if (fraction.shape[1], fraction.shape[0]) != size:
        fraction = cv2.resize(fraction.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    return fraction >= 0.5


def shrink_long_side(image: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """``image`` area-averaged down so its long side is at most ``long_side`` pixels, and
    the scale applied (1.0: returned as it is)."""
    h, w = image.shape[:2]
    scale = min(1.0, long_side / max(h, w))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # The block factor never takes a side below the size it is shrunk to (a thin strip).
    factor = min(max(h, w) // (4 * long_side), w // size[0], h // size[1])
    if factor >= 2:
        # A large photo: OpenCV averages whole blocks of an integer factor far faster than
        # any other ratio (12 MP to 120 px: 25 ms straight, 3 ms this way); the block
        # means then go the rest of the way (last < factor rows and columns left out).
        # Photos under 4x long_side take the straight path, so their masks are unchanged.
        bh, bw = h // factor, w // factor
        image = cv2.resize(
            image[: bh * factor, : bw * factor], (bw, bh), interpolation=cv2.INTER_AREA
        )
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def full_size_result(
    small_mask: np.ndarray | None,
    size: tuple[int, int],
    scale: float,
    segmenter: str,
    min_fraction: float,
) -> SegmentationResult:
    """The result for an object mask found on a shrunk image: scaled back to ``size``
    (width, height), or no object when it covers under ``min_fraction`` of the frame."""
    if small_mask is None or small_mask.mean() < min_fraction:
        return SegmentationResult(mask=None, segmenter=segmenter)
    mask = upsample_mask(small_mask.astype(np.float32), size)
    if not mask.any():
        return SegmentationResult(mask=None, segmenter=segmenter)
    return SegmentationResult(mask=mask, segmenter=segmenter, box=mask_box(small_mask, scale))


MIN_OBJECT_FRACTION = 0.01
"""Smaller results (share of the image) are taken as "no object found"."""

MIN_CUT_SIDE = 16
"""Below this many pixels on the shrunk image's short side, colour models have too few
samples to tell object from background."""


def centred_rectangle(shape: tuple[int, ...], margin: float) -> tuple[int, int, int, int]:
    """The centred rectangle ``(x, y, width, height)`` of an image of ``shape`` with
    ``margin`` (share of each side, at least one pixel) left outside it."""
    h, w = shape[:2]
    mx, my = max(1, round(margin * w)), max(1, round(margin * h))
    return mx, my, w - 2 * mx, h - 2 * my


class CentredCutSegmenter:
    """What fastcut and GrabCut share: listing photos frame the item in the middle, so the
    cut starts from a centred rectangle (everything outside it is background), runs on the
    photo shrunk to ``long_side`` and keeps the largest connected piece, scaled back up.

    Subclasses set :attr:`name` and implement :meth:`cut`.

    Parameters
    ----------
    long_side : int
        Analysis size (long side, pixels).
    margin : float
        Fraction of each side outside the initial rectangle (sure background), 0–0.5.
    iterations : int
        Rounds of colour models and cut.
    """

    name = "centred-cut"

    def __init__(self, long_side: int, margin: float, iterations: int):
        if not 0 < margin < 0.5:
            raise ValueError(f"margin must be in (0, 0.5), got {margin}")
        self.long_side = long_side
        self.margin = margin
        self.iterations = iterations

    @classmethod
    def from_settings(cls, settings: dict[str, object]):
        """The segmenter with the registry's ``settings`` (``long_side``, ``margin``,
        ``iterations``)."""
        return cls(
            long_side=int(settings["long_side"]),
            margin=float(settings["margin"]),
            iterations=int(settings["iterations"]),
        )

    def segment(self, image: np.ndarray) -> SegmentationResult:
        h, w = image.shape[:2]
        small, scale = shrink_long_side(image, self.long_side)
        if min(small.shape[:2]) < MIN_CUT_SIDE:
            return SegmentationResult(mask=None, segmenter=self.name)
        fg = self.cut(np.ascontiguousarray(small))
        return full_size_result(fg, (w, h), scale, self.name, MIN_OBJECT_FRACTION)

    def cut(self, small: np.ndarray) -> np.ndarray | None:
        """The object mask (bool, the size of ``small``) of the shrunk RGB image, or None
        when nothing stands out."""
        raise NotImplementedError


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a boolean mask (all False stays all False)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    if count <= 2:
        return mask.astype(bool)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest
