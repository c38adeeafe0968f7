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
- The path is looked at (``stat``) before it is opened: FIFOs, sockets, devices, folders,
  files under ``/proc`` and ``/sys``, broken links and link loops are refused without
  reading from them, so none can block or flood a batch.
- A JPEG whose data ran out (truncated, or a header promising more rows than the data
  holds) still decodes, with libjpeg filling the missing rows flat mid-grey: that is
  refused as truncated rather than measured as a photo with a grey band.
- HEIC/HEIF (via pillow-heif) and AVIF (Pillow's own) decode like any other format.
- Whatever the decoder raises becomes one clear message (Pillow's limits on PNG text or
  ICC chunks included); only running out of memory is left to the caller.
- A file is opened once and streamed into the decoder; it is never read whole into memory
  a second time.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from photoqc.errors import PhotoqcError
from photoqc.remote import MAX_REMOTE_BYTES

try:  # HEIC/HEIF from phones: pillow-heif registers a Pillow opener
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - a dependency; kept optional for slim installs
    HEIF_SUPPORTED = False

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "ImageLoadError",
    "ImageShapeError",
    "ImageTooLargeError",
    "LoadedImage",
    "UnsupportedFormatError",
    "load_image",
]

DEFAULT_MAX_PIXELS = 64_000_000
"""Largest accepted image, in pixels (width x height), unless the caller says otherwise."""

IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".png",
        ".webp",
        ".tif",
        ".tiff",
        ".bmp",
        ".gif",
        ".heic",
        ".heif",
        ".avif",
    }
)
"""File name endings treated as images when scanning a folder (compared lower-case)."""

DECODED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF", "AVIF")
"""The only formats photoqc hands to a decoder (Pillow's names; phones' multi-picture JPEGs,
MPO, open as JPEG). Every other Pillow plugin is never tried: some parse with little
care, and the EPS one runs Ghostscript, a program of its own, on the file."""

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%!PS", "EPS"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"%PDF", "PDF"),
    (b"8BPS", "PSD"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"\x00\x00\x02\x00", "CUR"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"icns", "ICNS"),
    (b"qoif", "QOI"),
    (b"DDS ", "DDS"),
    (b"SIMPLE  =", "FITS"),
    (b"\x89HDF", "HDF5"),
    (b"/* XPM */", "XPM"),
    (b"gimp xcf", "XCF"),
)
"""How the formats photoqc refuses begin, so that the refusal can name them."""

URL_SCHEMES = ("http://", "https://")
"""Names that are web addresses: photoqc reads files, it does not download."""

URLS_REFUSED = "URLs are not supported: download the files first"

FILE_URI = "file://"
REMOTE_URI_SCHEMES = ("s3://", "gs://", "gcs://", "hdfs://", "abfs://", "abfss://", "viewfs://")
"""Object-store and cluster URIs: ``s3://`` and ``gs://`` are read (:mod:`photoqc.remote`:
a deadline, a size limit, credentials and endpoints from the machine's configuration
only); the others are refused with a reason, one error row each. ``file://`` URIs are
local paths, read as paths."""


def is_uri(name: str) -> bool:
    """Whether ``name`` is a ``file://`` URI or one of :data:`REMOTE_URI_SCHEMES`."""
    return name.lower().startswith((FILE_URI, *REMOTE_URI_SCHEMES))


def uri_path(uri: str) -> str:
    """The local path of a ``file://`` URI (``file:///a/b%20c.jpg`` -> ``/a/b c.jpg``)."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise ImageLoadError(uri, f"a file URI on another host ({parts.netloc}) cannot be read")
    return unquote(parts.path)


def _read_remote(uri: str) -> bytes:
    """The bytes of an object at ``uri`` (:func:`photoqc.remote.read_remote`: a deadline, a
    size limit, no endpoint or credential from the URI)."""
    from photoqc.remote import RemoteReadError, read_remote

    try:
        return read_remote(uri, limit=MAX_REMOTE_BYTES)
    except RemoteReadError as exc:
        raise ImageLoadError(uri, str(exc)) from None


MAX_PATH_BYTES = 4096
"""Longest path a file can have (Linux's PATH_MAX): a longer one is refused unread."""

logger = logging.getLogger(__name__)

_EXIF_ORIENTATION_TAG = 0x0112
_WHITE = 255.0

MISSING_DATA_GREY = 128
"""The value libjpeg gives every sample of rows it had no data for (all DCT terms zero)."""

MIN_MISSING_ROWS = 8
"""Flat mid-grey rows at the bottom of a JPEG (one block row) that mark its data as cut."""

SYSTEM_FOLDERS = ("/proc/", "/sys/", "/dev/")
"""Kernel file systems: their files are never photos, and some never end."""

_FILE_KINDS = (
    (stat.S_ISDIR, "is a directory, not an image file"),
    (stat.S_ISFIFO, "is a FIFO (named pipe), not an image file"),
    (stat.S_ISSOCK, "is a socket, not an image file"),
    (stat.S_ISCHR, "is a character device, not an image file"),
    (stat.S_ISBLK, "is a block device, not an image file"),
)

# Anything the decoders raise for a malformed file (beyond OSError): Pillow's plugins parse
# with struct, index into tables and raise ValueError for limits they enforce.
_DECODER_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    OverflowError,
    struct.error,
)


class ImageLoadError(PhotoqcError):
    """An image could not be turned into pixels; the message names the file and the cause.

    ``cause`` is the message without the file's name (what an error row says).
    """

    code = "bad_image"

    def __init__(self, source: str, cause: str):
        self.source = source
        self.cause = cause
        super().__init__(f"{source}: {cause}")


class UnsupportedFormatError(ImageLoadError):
    """An image format photoqc does not decode (HTTP 415), named where it is known."""

    http_status = 415
    code = "unsupported_format"


class ImageTooLargeError(ImageLoadError):
    """More pixels than the limit allows, read from the header before decoding (HTTP 413)."""

    http_status = 413
    code = "too_many_pixels"


class ImageShapeError(ImageLoadError):
    """An image too thin to measure (one side many times the other), read from the header
    before decoding (HTTP 422)."""

    http_status = 422
    code = "too_thin"


MAX_ASPECT = 40
"""The most one side of an image may be times the other (a 1 x 60000 strip is not a photo:
its short side vanishes at every analysis scale). Phone panoramas stay under 1:10."""


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
    jpeg_subsampling : int or None
        JPEG chroma subsampling as Pillow reads it from the header: 0 for 4:4:4, 1 for
        4:2:2, 2 for 4:2:0; None for other files (and JPEGs that are not YCbCr).
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
    jpeg_subsampling: int | None = None

    @property
    def height(self) -> int:
        """Height in pixels, after EXIF orientation."""
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        """Width in pixels, after EXIF orientation."""
        return int(self.pixels.shape[1])


def load_image(
    source: str | os.PathLike[str] | bytes | BinaryIO,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> LoadedImage:
    """Decode an image file (or its bytes) to RGB uint8 pixels plus metadata.

    Parameters
    ----------
    source : path, URI, bytes or binary file object
        A file path or ``file://`` URI, an object-store URI (``s3://``, ``gs://``, ...:
        :data:`REMOTE_URI_SCHEMES`, read through pyarrow's file systems), the encoded
        image as bytes, or an open binary file positioned anywhere (read from its start,
        left open; e.g. an upload spooled to disk).
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
    elif hasattr(source, "read") and hasattr(source, "seek"):
        name = "<upload>"
        file_size = source.seek(0, io.SEEK_END)
        source.seek(0)
        stream = source  # type: ignore[assignment]
        opened_here = False
    elif isinstance(source, str) and source.lower().startswith(REMOTE_URI_SCHEMES):
        data = _read_remote(source)
        name, file_size, opened_here = source, len(data), False
        stream = io.BytesIO(data)
    else:
        text = os.fsdecode(source)
        if text.lower().startswith(URL_SCHEMES):
            raise ImageLoadError(text, URLS_REFUSED)
        if text.lower().startswith(FILE_URI):
            source = text = uri_path(text)
        if "\x00" in text:
            raise ImageLoadError(text, "the path holds a NUL byte, which no file name can")
        if len(os.fsencode(text)) > MAX_PATH_BYTES:
            raise ImageLoadError(
                text[:60] + "...",
                f"path too long ({len(text):,} characters; file paths stop at "
                f"{MAX_PATH_BYTES:,} bytes)",
            )
        path = Path(source)
        name = str(path)
        file_size = _regular_file_size(path, name)
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


def _regular_file_size(path: Path, name: str) -> int:
    """The size of ``path`` if it is a regular file that may be read; ImageLoadError
    otherwise, decided from ``stat`` before anything is opened."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise ImageLoadError(name, "broken symbolic link (its target is gone)") from None
        raise ImageLoadError(name, "file not found") from None
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            raise ImageLoadError(name, "symbolic link loop") from None
        raise ImageLoadError(name, f"cannot read file ({exc.strerror or exc})") from None
    for is_kind, message in _FILE_KINDS:
        if is_kind(info.st_mode):
            raise ImageLoadError(name, message)
    real = os.path.realpath(path)
    if real.startswith(SYSTEM_FOLDERS):
        raise ImageLoadError(name, f"a system file ({real}), not a photo")
    return info.st_size


def refused_format(head: bytes) -> str | None:
    """The name of the format photoqc does not decode that the file's first bytes show
    (EPS, PDF, SVG, PSD, ICO...), or None."""
    for signature, fmt in _SIGNATURES:
        if head.startswith(signature):
            return fmt
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "SVG"
    return None


def _decode(stream, name: str, file_size: int, max_pixels: int) -> LoadedImage:
    try:
        # Pillow warns (not fails) between its own limit and twice it; our check below is
        # the one that decides, so its warning is noise here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(stream, formats=DECODED_FORMATS)
    except UnidentifiedImageError:
        stream.seek(0)
        fmt = refused_format(stream.read(1024))
        if fmt:
            raise UnsupportedFormatError(
                name,
                f"unsupported image format: {fmt} (photoqc reads {', '.join(DECODED_FORMATS)})",
            ) from None
        raise ImageLoadError(
            name, "not a recognised image format (corrupt or not an image)"
        ) from None
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(name, f"decompression bomb refused ({exc})") from None
    except _DECODER_ERRORS as exc:
        raise ImageLoadError(name, f"cannot decode header ({_one_line(exc)})") from None

    with image:
        width, height = image.size
        if width < 1 or height < 1:
            raise ImageLoadError(name, f"image has no pixels ({width}x{height})")
        if max(width, height) > MAX_ASPECT * min(width, height):
            raise ImageShapeError(
                name,
                f"too thin to measure: {width}x{height} pixels (one side is more than "
                f"{MAX_ASPECT} times the other)",
            )
        if width * height > max_pixels:
            raise ImageTooLargeError(
                name,
                f"image too large: {width}x{height} = {width * height / 1e6:.1f} MP exceeds "
                f"the limit of {max_pixels / 1e6:.1f} MP (possible decompression bomb; "
                "raise --max-pixels if the file is genuine)",
            )
        fmt = image.format or "unknown"
        mode = image.mode
        frames = int(getattr(image, "n_frames", 1) or 1)
        # An MPO (a camera's JPEG with a preview or a second view) is not an animation:
        # its first image is the photo.
        if frames > 1 and fmt in ANIMATED_FORMATS:
            # A choice, not an accident: a listing shows the first frame (the still a
            # browser shows before the animation starts), and so it is what is judged.
            logger.warning("%s: animated (%d frames): first frame judged", name, frames)
        if fmt == "JPEG":
            if image.info.get("progressive") or image.info.get("progression"):
                scans = _jpeg_scans(stream)
                if scans > MAX_JPEG_SCANS:
                    raise ImageLoadError(
                        name,
                        f"a progressive JPEG of {scans} scans (at most {MAX_JPEG_SCANS}; "
                        "cameras and encoders write about 10): refused undecoded, as "
                        "decoding it would take minutes",
                    )
        quantization = _jpeg_quantization(image)
        subsampling = _jpeg_subsampling(image)
        orientation = _exif_orientation(image)
        pixels, had_alpha, bit_depth = None, False, 8
        if fmt == "JPEG" and mode in ("RGB", "L"):
            try:
                pixels = _decode_jpeg_with_opencv(stream, image.size, orientation)
            except ValueError as exc:
                raise ImageLoadError(
                    name, f"truncated or corrupt image data ({_one_line(exc)})"
                ) from None
        if pixels is None:  # not such a JPEG, or one OpenCV could not decode
            try:
                image.load()
                if fmt == "JPEG":
                    _refuse_missing_rows(image)
                upright = ImageOps.exif_transpose(image) if orientation != 1 else image
            except Image.DecompressionBombError as exc:
                raise ImageTooLargeError(name, f"decompression bomb refused ({exc})") from None
            except _DECODER_ERRORS as exc:
                raise ImageLoadError(
                    name, f"truncated or corrupt image data ({_one_line(exc)})"
                ) from None
            try:
                pixels, had_alpha, bit_depth = _to_rgb8(upright)
            except _DECODER_ERRORS as exc:
                raise ImageLoadError(
                    name, f"unsupported pixel format {mode!r} ({_one_line(exc)})"
                ) from None
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
        jpeg_subsampling=subsampling,
    )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


_ORIENTED = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}
"""EXIF orientation -> the view that shows the photo upright (as ``ImageOps.exif_transpose``)."""


def _decode_jpeg_with_opencv(stream, size: tuple[int, int], orientation: int) -> np.ndarray | None:
    """A YCbCr or grayscale JPEG decoded by OpenCV's libjpeg-turbo straight into an
    upright RGB array: the same pixels as Pillow's decoder (checked to the value by
    tests/images/test_images.py), without Pillow's copy into numpy, which costs as much again
    as decoding (27 of 85 ms for 12 MP). None where OpenCV cannot decode the file
    (truncated, corrupt): Pillow's path then decides, with its own message. ValueError
    when the bottom rows hold no image data (see :func:`_missing_rows`)."""
    import cv2

    stream.seek(0)
    encoded = np.frombuffer(stream.read(), np.uint8)
    flags = cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION
    rgb = cv2.imdecode(encoded, flags)
    width, height = size
    if rgb is None or rgb.shape != (height, width, 3):
        return None
    missing = _missing_rows(rgb)
    if missing:
        raise ValueError(
            f"the last {missing} of {height} rows hold no image data "
            f"(flat grey where the file ran out; {MISSING_ROWS_CHOICE})"
        )
    turn = _ORIENTED.get(orientation)
    return np.ascontiguousarray(turn(rgb)) if turn else rgb


ANIMATED_FORMATS = ("GIF", "WEBP", "PNG")
"""Formats whose extra frames are an animation (said when a photo has them)."""

MISSING_ROWS_CHOICE = (
    "exactly (128, 128, 128) is what a decoder fills in for missing data, so a photo "
    "whose bottom really is that grey is refused too"
)
"""Said with every 'rows hold no image data' refusal: the pixels cannot tell a cut-short
file (with or without its end marker appended) from a photo whose bottom is exactly
libjpeg's fill; refusing both is the choice, since accepting would let cut files pass."""

MAX_JPEG_SCANS = 100
"""Most scans a progressive JPEG may have: encoders write about 10; 1,000 repeated scans
of an 8000 x 8000 frame took 49 s to decode (a 346 KB 'scan bomb')."""

_SOS = b"\xff\xda"


def _jpeg_scans(stream, chunk: int = 1 << 20) -> int:
    """How many start-of-scan markers a JPEG's bytes hold. Entropy-coded data never holds
    FF DA (a data FF is followed by 00 or a restart marker), so a byte count is exact."""
    stream.seek(0)
    count, carry = 0, b""
    while True:
        block = stream.read(chunk)
        if not block:
            return count
        joined = carry + block
        count += joined.count(_SOS)
        carry = joined[-1:] if joined[-1:] == b"\xff" else b""


def _missing_rows(pixels: np.ndarray) -> int:
    """How many bottom rows of a decoded JPEG are the flat mid-grey libjpeg fills in for
    rows it had no data for (0 for a photo that is grey all over)."""
    tail = pixels[-MIN_MISSING_ROWS:]
    if pixels.shape[0] <= MIN_MISSING_ROWS or not (tail == MISSING_DATA_GREY).all():
        return 0
    rows = pixels.reshape(pixels.shape[0], -1)
    flat = (rows == MISSING_DATA_GREY).all(axis=1)
    return int(np.argmin(flat[::-1])) if not flat.all() else 0


def _refuse_missing_rows(image: Image.Image) -> None:
    """ValueError when the bottom of a decoded JPEG is the flat mid-grey libjpeg fills in
    for rows it had no data for (a real photo's last block row is never flat grey to the
    sample); a photo that is grey all over is left alone."""
    width, height = image.size
    if height <= MIN_MISSING_ROWS:
        return
    # The last rows first (cheap): the whole frame is read only when they are grey.
    tail = np.asarray(image.crop((0, height - MIN_MISSING_ROWS, width, height)))
    if (tail == MISSING_DATA_GREY).all():
        missing = _missing_rows(np.asarray(image))
        if missing:
            raise ValueError(
                f"the last {missing} of {height} rows hold no image data "
                f"(flat grey where the file ran out; {MISSING_ROWS_CHOICE})"
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


def _jpeg_subsampling(image: Image.Image) -> int | None:
    if image.format != "JPEG":
        return None
    from PIL import JpegImagePlugin

    try:
        sampling = JpegImagePlugin.get_sampling(image)
    except Exception:  # an odd header costs the feature, not the photo
        return None
    return sampling if sampling in (0, 1, 2) else None


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
