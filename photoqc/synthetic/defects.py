"""Realistic photo defects at a chosen severity: training copies, the offline demo, tests.

Each defect takes an RGB uint8 image and a severity from 0 (untouched) to 1 (ruined)
and returns a new RGB uint8 image. They imitate what listing photos suffer: under- and
over-exposure, blown highlights, flat light, a dark corner, missed focus, camera shake,
sensor noise, heavy JPEG compression, and an object cut off by the frame.

The 25 distortion types of KADID-10k at 5 levels are the other vocabulary of synthetic
copies (:mod:`photoqc.synthetic.kadid`); :mod:`photoqc.synthetic.kinds` lists the kinds of
copies training makes from both.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image


def _clip(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def underexpose(image: np.ndarray, severity: float) -> np.ndarray:
    """Too little light: linear light scaled down by up to 90 %, so shadows sink to black."""
    linear = (image.astype(np.float32) / 255.0) ** 2.2
    linear *= 1.0 - 0.9 * severity
    return _clip(255.0 * linear ** (1 / 2.2))


def overexpose(image: np.ndarray, severity: float) -> np.ndarray:
    """Too much light: linear light scaled up to 6x, clipping the highlights."""
    linear = (image.astype(np.float32) / 255.0) ** 2.2
    linear *= 1.0 + 5.0 * severity
    return _clip(255.0 * np.minimum(linear, 1.0) ** (1 / 2.2))


def blown_highlights(image: np.ndarray, severity: float) -> np.ndarray:
    """Harsh sun or flash glare: a bright blob that blows out part of the frame."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx, radius = 0.3 * h, 0.65 * w, (0.15 + 0.35 * severity) * max(h, w)
    glare = np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2)))
    return _clip(image.astype(np.float32) + 400.0 * severity * glare[..., None])


def low_contrast(image: np.ndarray, severity: float) -> np.ndarray:
    """Flat, hazy light: tones pulled towards the mean by up to 85 %."""
    f = image.astype(np.float32)
    return _clip(f.mean() + (f - f.mean()) * (1.0 - 0.85 * severity))


def dark_corner(image: np.ndarray, severity: float) -> np.ndarray:
    """One side in shadow: the lower-left of the frame darkened smoothly by up to 90 %."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    distance = np.hypot((xx / w) / 0.7, (1 - yy / h) / 0.7)  # 0 at lower-left corner
    shade = 1.0 - 0.9 * severity * np.clip(1.0 - distance, 0, 1) ** 0.7
    return _clip(image.astype(np.float32) * shade[..., None])


def defocus_blur(image: np.ndarray, severity: float) -> np.ndarray:
    """Missed focus: a disc blur of radius up to 2 % of the long side."""
    radius = max(1, round(severity * 0.02 * max(image.shape[:2])))
    if severity <= 0:
        return image.copy()
    size = 2 * radius + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)).astype(np.float32)
    return cv2.filter2D(image, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def motion_blur(image: np.ndarray, severity: float) -> np.ndarray:
    """Camera shake: a diagonal streak up to 4 % of the long side."""
    length = max(1, round(severity * 0.04 * max(image.shape[:2])))
    if length <= 1:
        return image.copy()
    kernel = np.zeros((length, length), np.float32)
    cv2.line(kernel, (0, length - 1), (length - 1, 0), 1.0, 1)
    return cv2.filter2D(image, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def sensor_noise(image: np.ndarray, severity: float, seed: int = 0) -> np.ndarray:
    """High-ISO noise: Gaussian luminance and chroma noise up to sigma 35."""
    rng = np.random.default_rng(seed)
    sigma = 35.0 * severity
    luminance = rng.normal(0, sigma, image.shape[:2])[..., None]
    chroma = rng.normal(0, sigma * 0.4, image.shape)
    return _clip(image.astype(np.float32) + luminance + chroma)


def heavy_jpeg(image: np.ndarray, severity: float) -> np.ndarray:
    """Re-saved with strong compression: JPEG quality from 95 down to 4."""
    return heavy_jpeg_at(image, round(95 - 91 * severity))


def cut_off(image: np.ndarray, severity: float) -> np.ndarray:
    """The object cut off by the frame: a crop of 55 % of the width that slides from the
    centre (severity 0) until its left edge runs through the middle of the scene (1)."""
    w = image.shape[1]
    crop_w = int(w * 0.55)
    x0 = min(round((0.225 + 0.25 * severity) * w), w - crop_w)
    return np.ascontiguousarray(image[:, x0 : x0 + crop_w])


def gaussian_noise(image: np.ndarray, severity: float, seed: int = 0) -> np.ndarray:
    """Additive white Gaussian noise, independent in R, G and B, sigma up to 30 levels."""
    rng = np.random.default_rng(seed)
    return _clip(image.astype(np.float32) + rng.normal(0, 30.0 * severity, image.shape))


def jpeg(image: np.ndarray, severity: float) -> np.ndarray:
    """Saved as JPEG at quality 95 - 85 x severity (quality 10 at severity 1), and read back."""
    return heavy_jpeg_at(image, jpeg_quality_for(severity))


def jpeg_quality_for(severity: float) -> int:
    """The JPEG quality :func:`jpeg` uses at ``severity``."""
    return round(95 - 85 * severity)


def heavy_jpeg_at(image: np.ndarray, quality: int) -> np.ndarray:
    """The image after a round trip through JPEG at ``quality`` (1–100)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def gaussian_blur(image: np.ndarray, severity: float) -> np.ndarray:
    """Soft focus: a Gaussian blur of sigma up to 1 % of the long side."""
    sigma = severity * 0.01 * max(image.shape[:2])
    if sigma <= 0.2:
        return image.copy()
    return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


CAST_HUES = {
    "warm": (1.0, 0.15, -0.65),
    "cool": (-0.6, 0.0, 1.0),
    "green": (-0.5, 0.6, -0.5),
    "magenta": (0.6, -0.5, 0.6),
}
"""Gains per channel (R, G, B) added at full severity, in linear light: a warm cast there
doubles red and leaves a third of blue, a white balance off by several thousand kelvin."""


def colour_cast(image: np.ndarray, severity: float, hue: str = "warm") -> np.ndarray:
    """A white-balance error: R, G, B scaled apart in linear light (a warm cast by default:
    red doubled, blue to a third at severity 1; see :data:`CAST_HUES`)."""
    gains = 1.0 + severity * np.asarray(CAST_HUES[hue], np.float32)
    linear = (image.astype(np.float32) / 255.0) ** 2.2 * gains
    return _clip(255.0 * np.minimum(linear, 1.0) ** (1 / 2.2))


DEFECT_FAMILIES: dict[str, str] = {
    "gaussian_noise": "noise",
    "jpeg": "compression",
    "gaussian_blur": "sharpness",
    "underexposed": "exposure",
    "overexposed": "exposure",
    "colour_cast": "colour",
}
"""The defects of the severity benchmark, each with the reason family that must name it."""


DEGRADATIONS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "underexposed": underexpose,
    "overexposed": overexpose,
    "blown_highlights": blown_highlights,
    "low_contrast": low_contrast,
    "dark_corner": dark_corner,
    "defocus_blur": defocus_blur,
    "motion_blur": motion_blur,
    "sensor_noise": sensor_noise,
    "heavy_jpeg": heavy_jpeg,
    "cut_off": cut_off,
    "gaussian_noise": gaussian_noise,
    "jpeg": jpeg,
    "gaussian_blur": gaussian_blur,
    "colour_cast": colour_cast,
}
"""Every defect by name."""
