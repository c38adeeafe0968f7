"""The 25 distortion types of KADID-10k, each at 5 levels, for training copies and benchmarks.

KADID-10k (H. Lin, V. Hosu, D. Saupe, "KADID-10k: A Large-scale Artificially Distorted IQA
Database", QoMEX 2019) distorts photos in 25 ways, in 7 families, at 5 levels of growing
strength chosen so that people's scores fall across the range. The functions here follow
its descriptions and parameter ranges, written anew with numpy, OpenCV and Pillow (the
database's MATLAB code is not used); level 1 is the mildest, 5 the strongest. Each takes an
RGB uint8 image and a level and returns a new RGB uint8 image; those with randomness take
a ``seed`` (the same seed, the same output).

``DISTORTIONS`` maps each type's name to (family, function); ``distort(image, name,
level)`` applies one. Copies are labelled by how much of their original they kept,
:func:`photoqc.metrics.fidelity` (a full-reference measure kept apart from the
generators), by which every type is monotone in its level (tested).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

LEVELS = (1, 2, 3, 4, 5)


def _clip(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _at(level: int, values: tuple[float, ...]) -> float:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level}")
    return values[level - 1]


def _scale(image: np.ndarray) -> float:
    """KADID's photos are 512 x 384: sizes in pixels scale with the long side."""
    return max(image.shape[:2]) / 512.0


# --- blur -------------------------------------------------------------------------------


def gaussian_blur(image: np.ndarray, level: int) -> np.ndarray:
    """Gaussian blur, sigma 0.1 to 5 px (at 512 px)."""
    sigma = _at(level, (0.5, 1.0, 2.0, 3.5, 5.0)) * _scale(image)
    return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def lens_blur(image: np.ndarray, level: int) -> np.ndarray:
    """Lens (defocus) blur: a disc of radius 1 to 8 px."""
    radius = max(1, round(_at(level, (1, 2, 4, 6, 8)) * _scale(image)))
    size = 2 * radius + 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)).astype(np.float32)
    return cv2.filter2D(image, -1, disc / disc.sum(), borderType=cv2.BORDER_REFLECT)


def motion_blur(image: np.ndarray, level: int) -> np.ndarray:
    """Motion blur: a horizontal-diagonal streak of 3 to 20 px."""
    length = max(2, round(_at(level, (3, 5, 9, 14, 20)) * _scale(image)))
    kernel = np.zeros((length, length), np.float32)
    cv2.line(kernel, (0, length // 3), (length - 1, length - 1 - length // 3), 1.0, 1)
    return cv2.filter2D(image, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


# --- colour -------------------------------------------------------------------------------


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)


def _rgb(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(_clip(lab), cv2.COLOR_LAB2RGB)


def colour_diffusion(image: np.ndarray, level: int) -> np.ndarray:
    """Colour diffusion: the chroma (Lab a, b) blurred, sigma 1 to 12 px; light untouched."""
    lab = _lab(image)
    sigma = _at(level, (1.0, 3.0, 6.0, 8.0, 12.0)) * _scale(image)
    for c in (1, 2):
        lab[..., c] = cv2.GaussianBlur(lab[..., c], (0, 0), sigma)
    return _rgb(lab)


def colour_shift(image: np.ndarray, level: int) -> np.ndarray:
    """Colour shift: the green channel displaced 1 to 12 px along the edges (misregistered
    colour planes)."""
    amount = _at(level, (1, 3, 6, 8, 12)) * _scale(image)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    # The misregistered plane shows in a band about as wide as the shift, beside edges.
    edges = cv2.GaussianBlur(
        np.hypot(cv2.Sobel(gray, -1, 1, 0), cv2.Sobel(gray, -1, 0, 1)), (0, 0), max(2.0, amount / 2)
    )
    weight = (edges / (edges.max() + 1e-6))[..., None]
    shifted = np.roll(image, (round(amount), round(amount)), axis=(0, 1)).astype(np.float32)
    out = image.astype(np.float32)
    out[..., 1:2] = out[..., 1:2] * (1 - weight) + shifted[..., 1:2] * weight
    return _clip(out)


def colour_quantisation(image: np.ndarray, level: int) -> np.ndarray:
    """Colour quantisation: 64 down to 8 colours (median cut), no dithering."""
    colours = int(_at(level, (64, 48, 32, 16, 8)))
    quantised = Image.fromarray(image).quantize(colours, method=Image.Quantize.MEDIANCUT, dither=0)
    return np.asarray(quantised.convert("RGB"))


def colour_saturation_hsv(image: np.ndarray, level: int) -> np.ndarray:
    """Desaturation in HSV: saturation scaled to 0.7 down to 0 (grey)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 1] *= _at(level, (0.7, 0.5, 0.3, 0.15, 0.0))
    return cv2.cvtColor(_clip(hsv), cv2.COLOR_HSV2RGB)


def colour_saturation_lab(image: np.ndarray, level: int) -> np.ndarray:
    """Over-saturation in Lab: the chroma (a, b) scaled up 1.5 to 6 times."""
    lab = _lab(image)
    factor = _at(level, (1.5, 2.0, 3.0, 4.5, 6.0))
    lab[..., 1:] = 128 + (lab[..., 1:] - 128) * factor
    return _rgb(lab)


# --- compression ---------------------------------------------------------------------------


def jpeg2000(image: np.ndarray, level: int) -> np.ndarray:
    """JPEG 2000 at compression ratios 16 to 170."""
    ratio = _at(level, (16, 32, 45, 120, 170))
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG2000", quality_mode="rates", quality_layers=[ratio])
    buffer.seek(0)
    return np.asarray(Image.open(buffer, formats=["JPEG2000"]).convert("RGB"))


def jpeg(image: np.ndarray, level: int) -> np.ndarray:
    """JPEG at quality 43 down to 4."""
    quality = int(_at(level, (43, 36, 24, 7, 4)))
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer, formats=["JPEG"]).convert("RGB"))


# --- noise ---------------------------------------------------------------------------------


def white_noise(image: np.ndarray, level: int, seed: int = 0) -> np.ndarray:
    """White Gaussian noise in R, G and B, variance 0.001 to 0.03 (of full scale)."""
    sigma = 255.0 * np.sqrt(_at(level, (0.001, 0.002, 0.004, 0.01, 0.03)))
    noise = np.random.default_rng(seed).normal(0, sigma, image.shape)
    return _clip(image.astype(np.float32) + noise)


def white_noise_colour(image: np.ndarray, level: int, seed: int = 0) -> np.ndarray:
    """White Gaussian noise in the colour components (YCbCr chroma) alone."""
    sigma = 255.0 * np.sqrt(_at(level, (0.002, 0.004, 0.008, 0.02, 0.05)))
    ycc = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    ycc[..., 1:] += np.random.default_rng(seed).normal(0, sigma, ycc[..., 1:].shape)
    return cv2.cvtColor(_clip(ycc), cv2.COLOR_YCrCb2RGB)


def impulse_noise(image: np.ndarray, level: int, seed: int = 0) -> np.ndarray:
    """Salt-and-pepper noise on 0.1 % to 3 % of the pixels."""
    density = _at(level, (0.001, 0.005, 0.01, 0.02, 0.03))
    rng = np.random.default_rng(seed)
    out = image.copy()
    hit = rng.random(image.shape[:2]) < density
    out[hit] = np.where(rng.random(int(hit.sum())) < 0.5, 0, 255)[:, None]
    return out


def multiplicative_noise(image: np.ndarray, level: int, seed: int = 0) -> np.ndarray:
    """Speckle: each value times (1 + noise), variance 0.001 to 0.1."""
    sigma = np.sqrt(_at(level, (0.001, 0.005, 0.01, 0.05, 0.1)))
    noise = np.random.default_rng(seed).normal(0, sigma, image.shape)
    return _clip(image.astype(np.float32) * (1.0 + noise))


def denoise(image: np.ndarray, level: int, seed: int = 0) -> np.ndarray:
    """Denoising artefacts: white noise of growing strength, removed by non-local means
    (KADID used a learned denoiser): smeared texture and blotches."""
    noisy = white_noise(image, level, seed)
    strength = 255.0 * np.sqrt(_at(level, (0.001, 0.002, 0.004, 0.01, 0.03)))
    return cv2.fastNlMeansDenoisingColored(noisy, None, strength, strength, 7, 21)


# --- brightness ----------------------------------------------------------------------------


def brighten(image: np.ndarray, level: int) -> np.ndarray:
    """Brightening by a tone curve on the light (Lab L), 0.1 to 1.1."""
    amount = _at(level, (0.1, 0.2, 0.4, 0.7, 1.1))
    lab = _lab(image)
    light = lab[..., 0] / 255.0
    lab[..., 0] = 255.0 * (light + amount * light * (1 - light) * 2) / (1 + amount * 0.25)
    return _rgb(np.clip(lab, 0, 255))


def darken(image: np.ndarray, level: int) -> np.ndarray:
    """Darkening by a tone curve on the light (Lab L), 0.05 to 0.8."""
    amount = _at(level, (0.05, 0.1, 0.2, 0.4, 0.8))
    lab = _lab(image)
    light = lab[..., 0] / 255.0
    lab[..., 0] = 255.0 * light ** (1 + 2.5 * amount)
    return _rgb(lab)


def mean_shift(image: np.ndarray, level: int) -> np.ndarray:
    """Mean shift: every value moved up by 8 % to 40 % of full scale (clipping)."""
    # Whole levels: a shift of 76.5 rounds (half to even) onto every other level.
    shift = np.round(255.0 * _at(level, (0.08, 0.15, 0.22, 0.3, 0.4)))
    return _clip(image.astype(np.float32) + shift)


# --- spatial -------------------------------------------------------------------------------


def jitter(image: np.ndarray, level: int, seed: int = 0) -> np.ndarray:
    """Jitter: every pixel taken from a random neighbour up to 1 to 8 px away."""
    reach = _at(level, (1, 2, 3, 5, 8)) * _scale(image)
    h, w = image.shape[:2]
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx = rng.uniform(-reach, reach, (h, w)).astype(np.float32)
    dy = rng.uniform(-reach, reach, (h, w)).astype(np.float32)
    return cv2.remap(image, xx + dx, yy + dy, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)


def patch_shift(image: np.ndarray, level: int, seed: int = 0) -> np.ndarray:
    """Non-eccentricity patches: 20 to 150 small patches (16 px) copied a short way off."""
    count = int(_at(level, (20, 40, 70, 100, 150)))
    size = max(4, round(16 * _scale(image)))
    h, w = image.shape[:2]
    rng = np.random.default_rng(seed)
    out = image.copy()
    for _ in range(count):
        y, x = int(rng.integers(0, h - size)), int(rng.integers(0, w - size))
        ty = int(np.clip(y + rng.integers(-2 * size, 2 * size), 0, h - size))
        tx = int(np.clip(x + rng.integers(-2 * size, 2 * size), 0, w - size))
        out[ty : ty + size, tx : tx + size] = image[y : y + size, x : x + size]
    return out


def pixelate(image: np.ndarray, level: int) -> np.ndarray:
    """Pixelation: blocks of 2 to 16 px (at 512 px)."""
    block = max(2, round(_at(level, (2, 4, 6, 10, 16)) * _scale(image)))
    h, w = image.shape[:2]
    small = cv2.resize(
        image, (max(1, w // block), max(1, h // block)), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def quantisation(image: np.ndarray, level: int) -> np.ndarray:
    """Quantisation of each channel to 20 down to 5 levels."""
    levels = _at(level, (20, 15, 11, 8, 5))
    step = 255.0 / (levels - 1)
    return _clip(np.round(image.astype(np.float32) / step) * step)


def colour_block(image: np.ndarray, level: int, seed: int = 0) -> np.ndarray:
    """Colour blocks: 2 to 16 squares (32 px) of random solid colour pasted on."""
    count = int(_at(level, (2, 4, 7, 11, 16)))
    size = max(4, round(32 * _scale(image)))
    h, w = image.shape[:2]
    rng = np.random.default_rng(seed)
    out = image.copy()
    for _ in range(count):
        y, x = int(rng.integers(0, max(1, h - size))), int(rng.integers(0, max(1, w - size)))
        out[y : y + size, x : x + size] = rng.integers(0, 256, 3)
    return out


# --- sharpness and contrast ----------------------------------------------------------------


def high_sharpen(image: np.ndarray, level: int) -> np.ndarray:
    """Over-sharpening: an unsharp mask of amount 1 to 12 (halos, grit)."""
    amount = _at(level, (1.0, 2.0, 3.5, 6.0, 12.0))
    blurred = cv2.GaussianBlur(image, (0, 0), 1.5 * _scale(image)).astype(np.float32)
    return _clip(image.astype(np.float32) + amount * (image.astype(np.float32) - blurred))


def contrast_change(image: np.ndarray, level: int) -> np.ndarray:
    """Contrast lowered: tones pulled 15 % to 75 % of the way to the mean."""
    keep = 1.0 - _at(level, (0.15, 0.3, 0.45, 0.6, 0.75))
    f = image.astype(np.float32)
    return _clip(f.mean() + (f - f.mean()) * keep)


Distortion = Callable[..., np.ndarray]

DISTORTIONS: dict[str, tuple[str, Distortion]] = {
    "gaussian_blur": ("blur", gaussian_blur),
    "lens_blur": ("blur", lens_blur),
    "motion_blur": ("blur", motion_blur),
    "colour_diffusion": ("colour", colour_diffusion),
    "colour_shift": ("colour", colour_shift),
    "colour_quantisation": ("colour", colour_quantisation),
    "colour_saturation_hsv": ("colour", colour_saturation_hsv),
    "colour_saturation_lab": ("colour", colour_saturation_lab),
    "jpeg2000": ("compression", jpeg2000),
    "jpeg": ("compression", jpeg),
    "white_noise": ("noise", white_noise),
    "white_noise_colour": ("noise", white_noise_colour),
    "impulse_noise": ("noise", impulse_noise),
    "multiplicative_noise": ("noise", multiplicative_noise),
    "denoise": ("noise", denoise),
    "brighten": ("brightness", brighten),
    "darken": ("brightness", darken),
    "mean_shift": ("brightness", mean_shift),
    "jitter": ("spatial", jitter),
    "patch_shift": ("spatial", patch_shift),
    "pixelate": ("spatial", pixelate),
    "quantisation": ("spatial", quantisation),
    "colour_block": ("spatial", colour_block),
    "high_sharpen": ("sharpness and contrast", high_sharpen),
    "contrast_change": ("sharpness and contrast", contrast_change),
}
"""KADID-10k's 25 distortion types: name -> (family, function(image, level[, seed]))."""

REASON_FAMILIES: dict[str, tuple[str, ...]] = {
    "blur": ("sharpness", "detail", "texture"),
    "colour": ("colour",),
    "compression": ("compression", "texture", "detail"),
    "noise": ("noise", "texture"),
    "brightness": ("exposure", "highlights"),
    "spatial": ("texture", "detail", "compression", "colour"),
    "sharpness and contrast": ("sharpness", "contrast", "texture", "noise"),
}
"""The reason families that name each distortion family rightly (for the benchmark)."""

_SEEDED = {name for name, (_, f) in DISTORTIONS.items() if "seed" in f.__code__.co_varnames}


def distort(image: np.ndarray, name: str, level: int, seed: int = 0) -> np.ndarray:
    """``image`` distorted by the KADID-10k type ``name`` at ``level`` (1–5)."""
    _, function = DISTORTIONS[name]
    return function(image, level, seed) if name in _SEEDED else function(image, level)


VERSION = 3
"""Changes when a distortion's pixels or :func:`photoqc.metrics.fidelity` change, so that
training copies made by an older version are made again (2: colour shift's band follows
the shift; fidelity takes the worse of SSIM and GMSD; 3: mean shift by whole levels)."""
