"""Perceptual hashes: 64 bits that stay (nearly) the same when a photo is resized,
recompressed or lightly cropped, and differ for another picture.

The hash is the classic DCT hash (pHash, as the ``imagehash`` library computes it): the
luma shrunk to 32 x 32 pixels, its 2-D DCT, and one bit per coefficient of the 8 x 8
lowest frequencies, set where the coefficient lies above their median. One hash alone
moves 8–18 bits when 5 % is cropped from each side, so a photo is described by the hashes
of its whole frame and of two centred crops (:data:`CROP_MARGINS`): two photos are
near-duplicates when the closest pair of their hashes differs in at most
:data:`DUPLICATE_DISTANCE` bits.
"""

from __future__ import annotations

import cv2
import numpy as np

HASH_BITS = 64

CROP_MARGINS = (0.0, 0.04, 0.08)
"""Share of the height and width cut from each side for the hashes that describe a photo:
the whole frame, and two centred crops."""

DUPLICATE_DISTANCE = 12
"""Hamming distance (bits of 64, closest pair of hashes) at or under which two photos are
the same picture.

Measured on five scikit-image photos (``tests/batch/test_rank.py``): a copy resized to half size
or re-saved as JPEG quality 30 lies 0 bits from its original, one cropped by 2–7 % on each
side 0–4, one cropped 6 % off one corner 4–12; another photo of the same scene (the view
shifted by a quarter of the frame, or a close-up of its middle) lies 20–30 bits away, and
unrelated photos 24–36 (about half the bits, as chance gives)."""


def dct_hash(rgb: np.ndarray) -> int:
    """The 64-bit DCT hash of a photo.

    Parameters
    ----------
    rgb : ndarray, uint8, (H, W, 3) or (H, W)
        The photo (any size; EXIF rotation already applied).

    Returns
    -------
    int
        The hash, 0 to 2**64 - 1 (bit 63 is the lowest frequency after the DC term's
        place in row-major order).
    """
    image = np.asarray(rgb)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    small = cv2.resize(grey.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)
    low = cv2.dct(small)[:8, :8].ravel()
    bits = low > np.median(low)
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def photo_hashes(rgb: np.ndarray) -> tuple[int, ...]:
    """The hashes that describe a photo: :func:`dct_hash` of the whole frame and of each
    centred crop of :data:`CROP_MARGINS`."""
    image = np.asarray(rgb)
    height, width = image.shape[:2]
    hashes = []
    for margin in CROP_MARGINS:
        dy, dx = int(height * margin), int(width * margin)
        hashes.append(dct_hash(image[dy : height - dy or None, dx : width - dx or None]))
    return tuple(hashes)


def hash_text(hashes: tuple[int, ...]) -> str:
    """``hashes`` as a table stores them: 16 hex digits each, separated by spaces."""
    return " ".join(f"{value:016x}" for value in hashes)


def parse_hashes(text: object) -> tuple[int, ...] | None:
    """The hashes of a table cell written by :func:`hash_text`, or None when the cell is
    empty or holds something else."""
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
