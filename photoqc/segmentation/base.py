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
    """Finds the main object of a photo. Build once per process; call per image."""

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
