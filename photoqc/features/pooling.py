"""Where native-scale features look on a large photo, and how the parts' statistics are
pooled into the whole frame's."""

from __future__ import annotations

import numpy as np

NAN = float("nan")

NATIVE_BUDGET = 1 << 20
"""Pixels (about 1 MP) over which filter-based native-scale features are measured.

Noise, blocking and native sharpness must see the sensor's own pixels, but not all of
them: on a larger photo they are measured on tiles of :data:`NATIVE_TILE` pixels spread
evenly over the frame (see :func:`native_windows`), so their cost stays flat from 1 to
50 MP; photos up to the budget are measured whole. ``benchmarks/bench_tiles.py`` states
how far tiled values lie from whole-frame ones."""

NATIVE_TILE = 128
"""Side of a native-scale tile, pixels (a multiple of 16: whole JPEG blocks and MCUs)."""


def native_windows(
    height: int, width: int, budget: int = NATIVE_BUDGET, tile: int = NATIVE_TILE
) -> list[tuple[slice, slice]]:
    """Windows (row slice, column slice) that sample a ``height`` x ``width`` frame with
    about ``budget`` pixels: the whole frame when it is that small, else equal tiles of
    ``tile`` pixels (less on a side shorter than that) on an even grid over the frame,
    each starting on a multiple of 16 pixels so that JPEG blocks keep their phase."""
    if height * width <= budget:
        return [(slice(0, height), slice(0, width))]
    th, tw = min(tile, height), min(tile, width)
    count = max(1, budget // (th * tw))
    rows = int(np.clip(round(np.sqrt(count * height / width * tw / th)), 1, height // th))
    cols = int(np.clip(count // rows, 1, width // tw))

    def starts(n: int, size: int, total: int) -> list[int]:
        spots = np.linspace(0, total - size, n) if n > 1 else [(total - size) / 2]
        return [int(s) // 16 * 16 for s in spots]

    return [
        (slice(y, y + th), slice(x, x + tw))
        for y in starts(rows, th, height)
        for x in starts(cols, tw, width)
    ]


def pooled_mean_var(parts: list[tuple[int, float, float]]) -> tuple[float, float]:
    """Mean and variance of a union of samples, from each sample's (count, mean, variance).

    One part is returned as it is, so a frame measured whole keeps its exact values."""
    parts = [p for p in parts if p[0] > 0]
    if not parts:
        return NAN, NAN
    if len(parts) == 1:
        return float(parts[0][1]), float(parts[0][2])
    n, m, v = (np.array(c, np.float64) for c in zip(*parts, strict=True))
    mean = float((n * m).sum() / n.sum())
    return mean, float(max(0.0, (n * (v + m**2)).sum() / n.sum() - mean**2))


STRIPE_PIXELS = 1 << 16
"""Pixels per stripe in :func:`mean_var` (one OpenCV call each, run on one thread)."""


def mean_var(values: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float]:
    """Mean and variance of a 2-D plane over ``mask`` (uint8 or bool; all pixels when
    None), the same whatever OpenCV's thread count.

    ``cv2.meanStdDev`` over a large plane splits it among OpenCV's threads, so the sums
    come out in another order on 1 thread (a Ray actor) than on 2 (a local run), and a
    photo's sharpness differed in its 14th digit with where it was measured. Here the
    plane goes to OpenCV in fixed stripes of about :data:`STRIPE_PIXELS` (each measured on
    one thread), pooled in float64 in a fixed order: as fast as one thread, and exact
    everywhere. NaN for an empty region."""
    import cv2

    height, width = values.shape[:2]
    rows = max(1, STRIPE_PIXELS // max(width, 1))
    if mask is not None:
        mask = mask.astype(np.uint8, copy=False)
    parts = []
    for start in range(0, height, rows):
        part = values[start : start + rows]
        if mask is None:
            count = part.size
            mean, std = cv2.meanStdDev(part)
        else:
            stripe = mask[start : start + rows]
            count = cv2.countNonZero(stripe)
            if not count:
                continue
            mean, std = cv2.meanStdDev(part, mask=stripe)
        parts.append((count, float(mean[0, 0]), float(std[0, 0]) ** 2))
    if len(parts) == 1:
        return parts[0][1], parts[0][2]
    return pooled_mean_var(parts)
