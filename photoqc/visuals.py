"""Small pictures for people: thumbnails and the object mask drawn over the photo."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

OVERLAY_COLOUR = (255, 64, 160)
"""RGB of the object outline and tint in detail views."""

THUMB_SIZE = 160
"""Long side of a thumbnail, pixels."""

DETAIL_SIZE = 480
"""Long side of a detail view, pixels."""


def shrink(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """Resize so the long side is at most ``long_side`` pixels (area averaging)."""
    h, w = rgb.shape[:2]
    scale = min(1.0, long_side / max(h, w))
    if scale >= 1.0:
        return rgb
    return cv2.resize(
        rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )


def mask_overlay(rgb: np.ndarray, mask: np.ndarray | None, *, alpha: float = 0.25) -> np.ndarray:
    """The photo with the background dimmed and the object tinted and outlined."""
    if mask is None or not mask.any():
        return rgb
    out = rgb.astype(np.float32)
    out[~mask] *= 0.6
    out[mask] = (1 - alpha) * out[mask] + alpha * np.array(OVERLAY_COLOUR, np.float32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    thickness = max(1, round(max(rgb.shape[:2]) / 250))
    cv2.drawContours(out, contours, -1, OVERLAY_COLOUR, thickness)
    return out


def jpeg_bytes(rgb: np.ndarray, quality: int = 80) -> bytes:
    """Encode an RGB uint8 array as JPEG."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def thumbnail_jpeg(rgb: np.ndarray, long_side: int = THUMB_SIZE) -> bytes:
    """A small JPEG of the photo for a table row."""
    return jpeg_bytes(shrink(rgb, long_side), 75)


def detail_jpeg(rgb: np.ndarray, mask: np.ndarray | None, long_side: int = DETAIL_SIZE) -> bytes:
    """A JPEG of the photo at detail size with the object ``mask`` (full size, bool, or
    None) drawn over it."""
    small = shrink(rgb, long_side)
    if mask is not None:
        # Averaging then thresholding at one half keeps the outline where it was.
        mask = shrink(mask.astype(np.uint8) * 255, long_side) >= 128
    return jpeg_bytes(mask_overlay(small, mask), 80)
