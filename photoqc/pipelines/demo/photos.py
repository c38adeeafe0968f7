"""The demo's source photos: scikit-image's bundled photos and framings of them (crops,
mirrored, shrunk), so the demo needs no download."""

from __future__ import annotations

import cv2
import numpy as np


def source_photo(name: str) -> np.ndarray:
    """An RGB uint8 photo from scikit-image's bundled data (no download)."""
    from skimage import data

    if name == "motorcycle":
        image = data.stereo_motorcycle()[0]
    else:
        image = getattr(data, name)()
    if image.ndim == 2:
        image = np.dstack([image] * 3)
    return np.ascontiguousarray(image[..., :3])


def framings(
    image: np.ndarray, count: int, long_side: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """``count`` framings of one photo: the whole frame, then random crops of 80–92 % of
    each side, every other one mirrored; each shrunk to at most ``long_side`` pixels."""
    h, w = image.shape[:2]
    out = []
    for k in range(count):
        scale = 1.0 if k == 0 else rng.uniform(0.8, 0.92)
        ch, cw = int(h * scale), int(w * scale)
        y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = image[y0 : y0 + ch, x0 : x0 + cw]
        if k % 2 == 1:
            crop = crop[:, ::-1]
        factor = min(1.0, long_side / max(ch, cw))
        if factor < 1.0:
            crop = cv2.resize(
                crop, (round(cw * factor), round(ch * factor)), interpolation=cv2.INTER_AREA
            )
        out.append(np.ascontiguousarray(crop))
    return out
