"""What a feature group reads: the pixels, the object mask and the JPEG tables, with the
derived views several groups share (luma, the analysis-scale image, gradients, native
tiles), each computed once per photo."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import cv2
import numpy as np

from photoqc.features.pooling import native_windows

ANALYSIS_LONG_SIDE = 512
"""Long side, in pixels, of the fixed analysis scale used by most features.

Photos arrive from 0.3 to 50 MP; measuring them at one scale makes numbers comparable
between sizes (and keeps the cost per image flat). 512 px is about the size of the phone
photos the default model learnt from (500 x 500), and of what a moderator sees in a
listing. Native-scale variants exist where the size itself matters (sharpness, noise)."""


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
