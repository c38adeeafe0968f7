"""Building blocks of the feature registry: what a feature is, and what it is computed from.

A *feature* is a named number with a one-line description that states its unit and range.
Features that share work are computed together by a *feature group*: a pure function from a
:class:`FeatureInput` (the pixels, the object mask, the JPEG tables) to a dict of floats.
No group does I/O, and none changes its input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

ANALYSIS_LONG_SIDE = 512
"""Long side, in pixels, of the fixed analysis scale used by most features.

Photos arrive from 0.3 to 50 MP; measuring them at one scale makes numbers comparable
between sizes (and keeps the cost per image flat). 512 px is about the size of the phone
photos the default model learnt from (500 x 500), and of what a moderator sees in a
listing. Native-scale variants exist where the size itself matters (sharpness, noise)."""

NATIVE_BUDGET = 1 << 20
"""Pixels (about 1 MP) over which filter-based native-scale features are measured.

Noise, blocking and native sharpness must see the sensor's own pixels, but not all of
them: on a larger photo they are measured on tiles of :data:`NATIVE_TILE` pixels spread
evenly over the frame (see :func:`native_windows`), so their cost stays flat from 1 to
50 MP; photos up to the budget are measured whole. ``benchmarks/bench_tiles.py`` states
how far tiled values lie from whole-frame ones."""

NATIVE_TILE = 128
"""Side of a native-scale tile, pixels (a multiple of 16: whole JPEG blocks and MCUs)."""

NAN = float("nan")


class Direction(StrEnum):
    """Which way a feature's value is better, as physics says (not as data fit).

    Monotone constraints of the classifier and the side a reason may speak of follow it.
    """

    HIGHER_BETTER = "higher is better"
    HIGHER_WORSE = "higher is worse"
    NEITHER = "neither"

    @property
    def monotone(self) -> int:
        """LightGBM's ``monotone_constraints`` entry: 1, -1 or 0."""
        return {Direction.HIGHER_BETTER: 1, Direction.HIGHER_WORSE: -1}.get(self, 0)


POSITION_WORDS = {
    "tl": "top-left",
    "tc": "top-centre",
    "tr": "top-right",
    "ml": "left-middle",
    "mc": "centre",
    "mr": "right-middle",
    "bl": "bottom-left",
    "bc": "bottom-centre",
    "br": "bottom-right",
}
"""One wording for parts of the frame (quarters and 3x3 cells), in descriptions and reasons."""


PLAIN_WORDS: tuple[tuple[str, str], ...] = (
    (
        r"excess kurtosis of the MSCN coefficients \(0 Gaussian; higher peakier\)",
        "how peaked fine texture is (high: smoothed, as by blur)",
    ),
    (r"generalised-Gaussian shape of the MSCN coefficients", "how natural fine texture looks"),
    (r"variance of the MSCN coefficients", "strength of fine texture"),
    (r"skewness of the MSCN coefficients", "lopsidedness of fine texture"),
    (
        r"asymmetric-GGD shape of neighbouring MSCN products",
        "how natural texture looks between neighbouring pixels",
    ),
    (
        r"asymmetric-GGD mean of neighbouring MSCN products",
        "balance of texture between neighbouring pixels",
    ),
    (
        r"left \(negative-side\) variance of neighbouring MSCN products",
        "texture across edges between neighbouring pixels",
    ),
    (
        r"right \(positive-side\) variance of neighbouring MSCN products",
        "texture along edges between neighbouring pixels",
    ),
    (r"(\d+)th percentile of local luma spread \(7x7 window\)", r"local detail (\1th percentile)"),
    (
        r"coefficient of variation of local luma spread over the photo",
        "how unevenly detail is spread over the photo",
    ),
    (r"mean HSV value \(brightest of R.*", "brightness of the centre"),
    (r"(?:relative )?RMS contrast \(std(?: / mean)? of luma\)", "contrast"),
    (r"relative RMS contrast", "contrast"),
    (r"variance of the Laplacian over the variance of luma", "fine detail for the contrast"),
    (r"variance of the Laplacian(?: of luma)?|Laplacian variance", "sharpness"),
    (r"mean squared Sobel gradient of luma", "edge strength"),
    (r"over the variance of luma", "for the contrast"),
    (r"estimated from the quantisation tables", ""),
    (r"cell of a 3x3 grid", "ninth of the frame"),
    (r"ninth \(of a 3x3 grid\)", "ninth of the frame"),
    (r"of the 9 cells", "of the nine parts of the frame"),
    (r"a 12x12 tiling", "the frame cut in small tiles"),
    (r"estimated std of colour noise.*", "colour speckle (noise)"),
    (r"estimated std of sensor noise in luma", "sensor noise"),
    (r"Hasler–Süsstrunk colourfulness", "colourfulness"),
    (r" \(98th percentile of tiles\)", ""),
    (r" \(fine detail per unit of contrast; darkening leaves it\)", ""),
    (r"NIMA (\w+) score: mean of the predicted 1–10 distribution", r"NIMA \1 score (1–10)"),
    (r"NIMA (\w+) spread: std of the predicted 1–10 distribution", r"NIMA \1 score's spread"),
    (r"mean luma", "brightness"),
    (r"\bluma\b", "brightness"),
    (r" ?\((?:at )?analysis scale\)", ""),
    (r" at analysis scale(?: \(long side \d+ px\))?", ""),
    (r"\(half scale\)", "(at half size)"),
    (r"\(quarter scale\)", "(at a quarter of the size)"),
    (r"at native size", "at full size"),
)
"""Technical terms of feature descriptions (MSCN, Laplacian, luma, 3x3 grid...) and the
plain words moderators read instead, in charts and tables (:attr:`FeatureSpec.label`)."""


def plain_words(text: str) -> str:
    """``text`` with the technical terms of :data:`PLAIN_WORDS` said plainly."""
    import re

    for pattern, words in PLAIN_WORDS:
        text = re.sub(pattern, words, text)
    return " ".join(text.split())


@dataclass(frozen=True)
class FeatureSpec:
    """A feature: its stable name, what it measures, and how to say it to a moderator.

    Attributes
    ----------
    name : str
        Stable column name.
    description : str
        One line with unit and range.
    family : str
        The defect family its reasons belong to ("exposure", "sharpness", "noise", ...):
        one defect moves many features of a family, and is said once.
    direction : Direction
        Which way is better; :attr:`Direction.NEITHER` when good values lie in a range.
    low, high : str
        The reason phrase when the value is below / above what good photos have, with
        ``{v}`` (the value) and ``{t}`` (good photos' typical value); empty when that side
        is no defect (a sharp photo is never "too sharp").
    fmt : str
        Format spec of values in phrases (``".2f"``, ``".1%"``...).
    near : str
        For signed differences (object minus background): the phrase when the value has
        the sign good photos have but less of it ("object hardly stands out").
    whole_frame : (str, str) or None
        ``(witness, say)``: when this local feature falls short and so does ``witness``
        (the best part of the whole frame), the reason speaks through ``say`` instead
        ("blurry all over" rather than "blurry top-left").
    short : str
        Its label in charts; by default the description up to its first comma.
    last_resort : bool
        Its family speaks only after every other family: an overall judgement (NIMA) that
        names no defect a moderator can fix.
    bounded : bool
        Good photos lie within a range and past it on either side is a defect (too dark
        or too bright, dull or oversaturated): a defect penalty may then act on both sides
        of the range good training photos span (only for :attr:`Direction.NEITHER`
        features with both phrases).
    show_typical : bool
        Whether reasons add good photos' typical value (not for distances from a good
        range, which are 0 for good photos).
    """

    name: str
    description: str
    family: str = "other"
    direction: Direction = Direction.NEITHER
    low: str = ""
    high: str = ""
    fmt: str = ".2f"
    near: str = ""
    whole_frame: tuple[str, str] | None = None
    short: str = ""
    last_resort: bool = False
    show_typical: bool = True
    bounded: bool = False

    def __post_init__(self) -> None:
        if self.bounded and not (self.direction is Direction.NEITHER and self.low and self.high):
            raise ValueError(f"{self.name}: a bounded feature has no direction and two phrases")
        if self.direction is Direction.HIGHER_BETTER and self.high:
            raise ValueError(f"{self.name}: higher is better, so a high value is no defect")
        if self.direction is Direction.HIGHER_WORSE and self.low:
            raise ValueError(f"{self.name}: higher is worse, so a low value is no defect")

    @property
    def label(self) -> str:
        """What the feature measures, in a few plain words (for charts and tables)."""
        return plain_words(self.short or self.description.split(", ")[0])

    def format(self, value: float) -> str:
        """``value`` as reasons print it."""
        return format(value, self.fmt)

    def phrase(self, side: str) -> str:
        """The reason phrase for ``side`` ("low" or "high"); empty when no defect."""
        return self.low if side == "low" else self.high


@dataclass(frozen=True)
class FeatureGroup:
    """Features computed together by one pure function.

    ``compute`` must return exactly the names in ``specs`` (NaN where undefined).
    """

    name: str
    specs: tuple[FeatureSpec, ...]
    compute: Callable[[FeatureInput], Mapping[str, float]]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.specs)


class view:
    """A derived view of :class:`FeatureInput` computed on first use and kept on the
    instance: ``functools.cached_property`` without the lock Python 3.11 holds across
    *all* instances while one computes, which made the extractor's threads measuring
    different photos wait for each other."""

    def __init__(self, compute: Callable[[FeatureInput], object]):
        self.compute = compute
        self.__doc__ = compute.__doc__
        self.name = compute.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: FeatureInput | None, owner: type | None = None):
        if instance is None:
            return self
        # Stored in the instance's __dict__, which then shadows this (non-data) descriptor.
        value = instance.__dict__[self.name] = self.compute(instance)
        return value


class FeatureInput:
    """The pixels a feature group reads, with shared derived views computed once.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8
        The image.
    mask : ndarray, shape (H, W), bool, or None
        The main object's pixels; None when no segmentation ran or nothing was found.
    jpeg_quantization : mapping of int to 64 ints, or None
        The file's JPEG quantisation tables (natural order), None for other formats.
    jpeg_subsampling : int or None
        The file's JPEG chroma subsampling (0 4:4:4, 1 4:2:2, 2 4:2:0), None otherwise.
    analysis_long_side : int
        Long side of the analysis-scale views; images already smaller are not enlarged.
    nima : mapping of model name to (mean, std), optional
        NIMA scores predicted for this image (the network runs in batches elsewhere).
    """

    def __init__(
        self,
        rgb: np.ndarray,
        mask: np.ndarray | None = None,
        jpeg_quantization: Mapping[int, tuple[int, ...]] | None = None,
        analysis_long_side: int = ANALYSIS_LONG_SIDE,
        nima: Mapping[str, tuple[float, float]] | None = None,
        jpeg_subsampling: int | None = None,
    ):
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 image, got {rgb.shape} {rgb.dtype}")
        if mask is not None:
            if mask.shape != rgb.shape[:2]:
                raise ValueError(f"mask shape {mask.shape} does not match image {rgb.shape[:2]}")
            mask = mask.astype(bool, copy=False)
            if not mask.any():
                mask = None
        self.rgb = rgb
        self.height, self.width = (int(n) for n in rgb.shape[:2])
        self.mask = mask
        self.jpeg_quantization = jpeg_quantization
        self.jpeg_subsampling = jpeg_subsampling
        self.analysis_long_side = analysis_long_side
        self.nima = nima

    @property
    def object_found(self) -> bool:
        return self.mask is not None

    @view
    def analysis_size(self) -> tuple[int, int]:
        """(width, height) of the analysis-scale views."""
        scale = min(1.0, self.analysis_long_side / max(self.width, self.height))
        return max(1, round(self.width * scale)), max(1, round(self.height * scale))

    @view
    def luma(self) -> np.ndarray:
        """Native-scale luma (Rec. 601), uint8 0–255."""
        return cv2.cvtColor(self.rgb, cv2.COLOR_RGB2GRAY)

    @view
    def luma_histogram(self) -> np.ndarray:
        """Native-scale luma histogram: pixel count per level 0–255 (float64, 256)."""
        if self.luma.size == 0:
            return np.zeros(256)
        return cv2.calcHist([self.luma], [0], None, [256], [0, 256]).ravel().astype(np.float64)

    @view
    def luma_small(self) -> np.ndarray:
        """Analysis-scale luma, float32 0–255 (area-averaged, so no aliasing)."""
        # From the shrunk RGB: OpenCV's uint8 area resize is several times faster than
        # resizing a float copy of full-size luma, and differs by under half a level.
        return cv2.cvtColor(self.rgb_small, cv2.COLOR_RGB2GRAY)

    @view
    def rgb_small(self) -> np.ndarray:
        """Analysis-scale RGB, float32 0–255."""
        return _shrink(self.rgb, self.analysis_size).astype(np.float32)

    @view
    def gradients(self) -> tuple[np.ndarray, np.ndarray]:
        """Native-scale 3x3 Sobel derivatives (d/dx, d/dy) of luma, float32."""
        return sobel_gradients(self.luma)

    @view
    def native_windows(self) -> list[tuple[slice, slice]]:
        """Where native-scale features look: the whole frame up to :data:`NATIVE_BUDGET`
        pixels, else a grid of tiles (see :func:`native_windows`)."""
        return native_windows(self.height, self.width)

    @view
    def native_rgb(self) -> list[np.ndarray]:
        """Native-scale RGB (uint8) of each of :attr:`native_windows`."""
        return [np.ascontiguousarray(self.rgb[ys, xs]) for ys, xs in self.native_windows]

    @view
    def native_luma(self) -> list[np.ndarray]:
        """Native-scale luma (uint8 0–255) of each of :attr:`native_windows`."""
        if len(self.native_windows) == 1:
            return [self.luma]
        return [np.ascontiguousarray(self.luma[ys, xs]) for ys, xs in self.native_windows]

    @view
    def native_gradients(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Sobel derivatives of each of :attr:`native_luma` (shared by sharpness and noise)."""
        if len(self.native_windows) == 1:
            return [self.gradients]
        return [sobel_gradients(luma) for luma in self.native_luma]

    @view
    def mask_small(self) -> np.ndarray | None:
        """Analysis-scale object mask (bool), or None."""
        if self.mask is None:
            return None
        if (self.width, self.height) == self.analysis_size:
            return self.mask
        # Averaging then thresholding at one half keeps the object's outline where it was.
        coverage = _shrink(self.mask.view(np.uint8) * np.uint8(255), self.analysis_size)
        return coverage >= 128


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


def sobel_gradients(luma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3x3 Sobel derivatives (d/dx, d/dy) of ``luma``, float32, reflected borders."""
    gx = cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
    return gx, gy


def _shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (image.shape[1], image.shape[0]) == size:
        return image
    factor = min(image.shape[1] // size[0], image.shape[0] // size[1])
    if factor >= 2:
        # OpenCV averages whole blocks of an integer factor several times faster than
        # any other ratio: shrink by that first (the last < factor rows and columns
        # left out), then the rest of the way.
        h, w = image.shape[0] // factor, image.shape[1] // factor
        image = cv2.resize(image[: h * factor, : w * factor], (w, h), interpolation=cv2.INTER_AREA)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def nan_features(names: tuple[str, ...] | list[str]) -> dict[str, float]:
    """A row of NaN for ``names`` (the value of a feature that is undefined here)."""
    return dict.fromkeys(names, NAN)
