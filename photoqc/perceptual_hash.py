"""Perceptual hashes: 64 bits that stay (nearly) the same when a photo is resized,
recompressed or lightly cropped, and differ for another picture.

The hash is the classic DCT hash (pHash, as the ``imagehash`` library computes it): the
luma shrunk to 32 x 32 pixels, its 2-D DCT, and one bit per coefficient of the 8 x 8
lowest frequencies, set where the coefficient lies above their median. One hash alone
moves 8–18 bits when 5 % is cropped from each side, so a photo is described by the hashes
of its whole frame and of two centred crops (:data:`CROP_MARGINS`), each also as the
mirror image would hash (a left-right flip changes the sign of every odd horizontal
frequency, so the mirrored hash comes from the same DCT): two photos are near-duplicates
when the closest pair of their hashes differs in at most :data:`DUPLICATE_DISTANCE` bits,
a mirrored copy included.

A photo with too little structure to compare (:data:`FLAT_STD`: a plain colour, a blank
frame) has no hashes at all: its DCT holds only noise, and any two plain frames would
otherwise look alike.
"""

from __future__ import annotations

import cv2
import numpy as np

HASH_BITS = 64

CROP_MARGINS = (0.0, 0.04, 0.08)
"""Share of the height and width cut from each side for the hashes that describe a photo:
the whole frame, and two centred crops."""

FLAT_STD = 2.0
"""Standard deviation of the 32 x 32 luma (0–255 levels) under which a photo is too plain
to compare: a flat colour, or one re-saved as JPEG, stays under 1; real photos lie far
above (a product on a plain white backdrop too, for its product)."""

FLAT = "-"
"""What a table's ``phash`` cell holds for a photo too plain to compare."""

DUPLICATE_DISTANCE = 12
"""Hamming distance (bits of 64, closest pair of hashes) at or under which two photos are
the same picture.

Measured on five scikit-image photos (``tests/batch/test_rank.py``): a copy resized to half size
or re-saved as JPEG quality 30 lies 0 bits from its original, one cropped by 2–7 % on each
side 0–4, one cropped 6 % off one corner 4–12; another photo of the same scene (the view
shifted by a quarter of the frame, or a close-up of its middle) lies 20–30 bits away, and
unrelated photos 24–36 (about half the bits, as chance gives)."""


_MIRROR_SIGNS = np.tile((-1.0) ** np.arange(8), 8)
"""The sign each of the 8 x 8 lowest DCT coefficients (row-major) takes when the image is
flipped left-right: odd horizontal frequencies change sign."""


def _small_luma(rgb: np.ndarray) -> np.ndarray:
    image = np.asarray(rgb)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    return cv2.resize(grey.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)


def _bits(low: np.ndarray) -> int:
    bits = low > np.median(low)
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def dct_hash(rgb: np.ndarray, *, mirrored: bool = False) -> int:
    """The 64-bit DCT hash of a photo (or, ``mirrored``, of its left-right mirror image).

    Parameters
    ----------
    rgb : ndarray, uint8, (H, W, 3) or (H, W)
        The photo (any size; EXIF rotation already applied).
    mirrored : bool
        Hash the mirror image instead (from the same DCT, without flipping the pixels).

    Returns
    -------
    int
        The hash, 0 to 2**64 - 1 (bit 63 is the lowest frequency after the DC term's
        place in row-major order).
    """
    low = cv2.dct(_small_luma(rgb))[:8, :8].ravel()
    return _bits(low * _MIRROR_SIGNS if mirrored else low)


def is_flat(rgb: np.ndarray) -> bool:
    """Whether a photo has too little structure to compare (:data:`FLAT_STD`)."""
    return float(_small_luma(rgb).std()) < FLAT_STD


def photo_hashes(rgb: np.ndarray) -> tuple[int, ...] | None:
    """The hashes that describe a photo: :func:`dct_hash` of the whole frame and of each
    centred crop of :data:`CROP_MARGINS`, each then mirrored; None for a photo too plain
    to compare (:func:`is_flat`)."""
    image = np.asarray(rgb)
    height, width = image.shape[:2]
    small = _small_luma(image)
    if float(small.std()) < FLAT_STD:
        return None
    lows = []
    for margin in CROP_MARGINS:
        dy, dx = int(height * margin), int(width * margin)
        crop = (
            small
            if margin == 0
            else _small_luma(image[dy : height - dy or None, dx : width - dx or None])
        )
        lows.append(cv2.dct(crop)[:8, :8].ravel())
    return tuple(_bits(low) for low in lows) + tuple(_bits(low * _MIRROR_SIGNS) for low in lows)


def hash_text(hashes: tuple[int, ...] | None) -> str:
    """``hashes`` as a table stores them: 16 hex digits each, separated by spaces;
    :data:`FLAT` for a photo too plain to compare."""
    if hashes is None:
        return FLAT
    return " ".join(f"{value:016x}" for value in hashes)


def parse_hashes(text: object) -> tuple[int, ...] | None:
    """The hashes of a table cell written by :func:`hash_text`, or None when the cell is
    empty, :data:`FLAT` or holds something else."""
    if not isinstance(text, str):
        return None
    try:
        values = tuple(int(part, 16) for part in text.split())
    except ValueError:
        return None
    return values if values and all(0 <= v < 1 << HASH_BITS for v in values) else None


def hamming(a: int, b: int) -> int:
    """Bits in which two hashes differ, 0–64."""
    return (a ^ b).bit_count()


def photo_distance(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """Bits in which the closest pair of two photos' hashes differ, 0–64."""
    return min(hamming(x, y) for x in a for y in b)
