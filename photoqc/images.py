"""Load and validate an image: a path or bytes in, an RGB ``uint8`` array plus metadata out.

Every input either decodes to a correct RGB image or raises :class:`ImageLoadError` naming
the file and the cause. The rules:

- EXIF orientation is applied, so ``pixels`` is the photo as a person sees it.
- Grayscale, bilevel and palette images are expanded to RGB.
- Images with transparency (RGBA, LA, PA, palette with a transparent index) are composited
  on white, as a listing page would show them.
- CMYK is converted to RGB (Pillow handles Adobe's inverted CMYK JPEGs).
- 16-bit images are scaled to 8 bits (``value / 257``, rounded), not truncated.
- The pixel count is checked from the header *before* decoding, so a decompression bomb is
  refused without allocating its pixels (limit ``max_pixels``, default 64 MP).
- A file is opened once and streamed into the decoder; it is never read whole into memory
  a second time.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "ImageLoadError",
    "LoadedImage",
    "load_image",
]

DEFAULT_MAX_PIXELS = 64_000_000
"""Largest accepted image, in pixels (width x height), unless the caller says otherwise."""

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"}
)
"""File name endings treated as images when scanning a folder (compared lower-case)."""

_EXIF_ORIENTATION_TAG = 0x0112
_WHITE = 255.0


class ImageLoadError(Exception):
    """An image could not be turned into pixels; the message names the file and the cause."""

    def __init__(self, source: str, cause: str):
        self.source = source
        self.cause = cause
        super().__init__(f"{source}: {cause}")


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image and what we know about its file.

    Attributes
    ----------
    pixels : ndarray, shape (height, width, 3), uint8
        RGB pixels after EXIF orientation, alpha compositing and bit-depth reduction.
    source : str
        The path, or ``"<bytes>"`` for in-memory input.
    format : str
        Container format as Pillow names it (``"JPEG"``, ``"PNG"``, ``"WEBP"``, ...).
    mode : str
        Pillow pixel mode of the file before conversion (``"RGB"``, ``"CMYK"``, ``"I;16"``...).
    file_size : int
        Size of the encoded file in bytes.
    exif_orientation : int
        EXIF orientation tag of the file (1-8; 1 means upright or absent).
    had_alpha : bool
        Whether the file had transparency (now composited on white).
    bit_depth : int
        Bits per sample in the file (8 or 16; 1 for bilevel).
    jpeg_quantization : dict[int, tuple[int, ...]] or None
        JPEG quantisation tables (64 values each, natural order, table id as key), or None
        for non-JPEG files.
    """

    pixels: np.ndarray
    source: str
    format: str
    mode: str
    file_size: int
    exif_orientation: int = 1
    had_alpha: bool = False
    bit_depth: int = 8
    jpeg_quantization: dict[int, tuple[int, ...]] | None = field(default=None, repr=False)

    @property
    def height(self) -> int:
        """Height in pixels, after EXIF orientation."""
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        """Width in pixels, after EXIF orientation."""
        return int(self.pixels.shape[1])


def load_image(
    source: str | os.PathLike[str] | bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> LoadedImage:
    """Decode an image file (or its bytes) to RGB uint8 pixels plus metadata.

    Parameters
    ----------
    source : path or bytes
        A file path, or the encoded image as bytes.
    max_pixels : int, optional
        Refuse images with more than this many pixels (width x height), checked from the
        header before decoding. Default 64 million.

    Returns
    -------
    LoadedImage

    Raises
    ------
    ImageLoadError
        When the file is missing, empty, not an image, truncated or corrupt, too large, or
        in a pixel format that cannot be converted to RGB. The message names the cause.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        name = "<bytes>"
        file_size = len(source)
        stream: io.BufferedIOBase | io.BytesIO = io.BytesIO(source)
        opened_here = False
    else:
        path = Path(source)
        name = str(path)
        try:
            file_size = path.stat().st_size
        except FileNotFoundError:
            raise ImageLoadError(name, "file not found") from None
        except OSError as exc:
            raise ImageLoadError(name, f"cannot read file ({exc.strerror or exc})") from None
        if path.is_dir():
            raise ImageLoadError(name, "is a directory, not an image file")
        try:
            stream = path.open("rb")
        except OSError as exc:
            raise ImageLoadError(name, f"cannot open file ({exc.strerror or exc})") from None
        opened_here = True
    try:
        if file_size == 0:
            raise ImageLoadError(name, "empty file (0 bytes)")
        return _decode(stream, name, file_size, max_pixels)
    finally:
        if opened_here:
            stream.close()


def _decode(stream, name: str, file_size: int, max_pixels: int) -> LoadedImage:
    try:
        # Pillow warns (not fails) between its own limit and twice it; our check below is
        # the one that decides, so its warning is noise here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(stream)
    except UnidentifiedImageError:
        raise ImageLoadError(
            name, "not a recognised image format (corrupt or not an image)"
        ) from None
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(name, f"decompression bomb refused ({exc})") from None
    except OSError as exc:
        raise ImageLoadError(name, f"cannot decode header ({exc})") from None

    with image:
        width, height = image.size
        if width < 1 or height < 1:
            raise ImageLoadError(name, f"image has no pixels ({width}x{height})")
        if width * height > max_pixels:
            raise ImageLoadError(
                name,
                f"image too large: {width}x{height} = {width * height / 1e6:.1f} MP exceeds "
                f"the limit of {max_pixels / 1e6:.1f} MP (possible decompression bomb; "
                "raise --max-pixels if the file is genuine)",
            )
        fmt = image.format or "unknown"
        mode = image.mode
        quantization = _jpeg_quantization(image)
        orientation = _exif_orientation(image)
        try:
            image.load()
            upright = ImageOps.exif_transpose(image) if orientation != 1 else image
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageLoadError(name, f"truncated or corrupt image data ({exc})") from None
        except Image.DecompressionBombError as exc:
            raise ImageLoadError(name, f"decompression bomb refused ({exc})") from None
        try:
            pixels, had_alpha, bit_depth = _to_rgb8(upright)
        except (ValueError, OSError) as exc:
            raise ImageLoadError(name, f"unsupported pixel format {mode!r} ({exc})") from None
    return LoadedImage(
        pixels=pixels,
        source=name,
        format=fmt,
        mode=mode,
        file_size=file_size,
        exif_orientation=orientation,
        had_alpha=had_alpha,
        bit_depth=bit_depth,
        jpeg_quantization=quantization,
    )


def _exif_orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block must not cost the photo
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def _jpeg_quantization(image: Image.Image) -> dict[int, tuple[int, ...]] | None:
    tables = getattr(image, "quantization", None)
    if image.format != "JPEG" or not tables:
        return None
    return {int(k): tuple(int(v) for v in table) for k, table in tables.items()}


def _to_rgb8(image: Image.Image) -> tuple[np.ndarray, bool, int]:
    """Convert any Pillow mode to (RGB uint8 array, had_alpha, bit depth of the file)."""
    mode = image.mode
    if mode.startswith("I;16") or mode in {"I", "F"}:
        # Pillow keeps 16-bit grayscale as I;16 (or I); scale 0..65535 to 0..255.
        data = np.asarray(image)
        if mode == "F":
            raise ValueError("floating-point pixels have no defined display range")
        gray = np.clip(np.rint(data.astype(np.float32) / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2), False, 16
    bit_depth = 1 if mode == "1" else 8
    has_alpha = mode in {"RGBA", "LA", "PA", "RGBa", "La"} or (
        mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
        alpha = rgba[:, :, 3:4] / 255.0
        rgb = rgba[:, :, :3] * alpha + _WHITE * (1.0 - alpha)
        return np.clip(np.rint(rgb), 0, 255).astype(np.uint8), True, bit_depth
    rgb = image if mode == "RGB" else image.convert("RGB")
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)), False, bit_depth
