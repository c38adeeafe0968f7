"""Only the formats photoqc means to read are ever decoded: EPS, PDF, SVG, PSD and ICO
bodies are refused by name, in batches and in the service alike, and no program is ever
started to read them."""

from __future__ import annotations

import io
import struct
import subprocess

import numpy as np
import pytest
from PIL import Image

from photoqc.images import DECODED_FORMATS, UnsupportedFormatError, load_image


def _pillow(fmt: str, **params) -> bytes:
    rgb = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, fmt, **params)
    return buffer.getvalue()


def _psd() -> bytes:
    # Photoshop's header: signature, version 1, 6 reserved bytes, 3 channels, 32x32, 8 bit, RGB.
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 32, 32, 8, 3)
    return header + b"\x00" * 4 * 3 + b"\x00\x00" + b"\x80" * (32 * 32 * 3)


BODIES = {
    "EPS": lambda: _pillow("EPS"),
    "PDF": lambda: _pillow("PDF"),
    "SVG": lambda: (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
        b'width="10" height="10"><rect width="10" height="10"/></svg>'
    ),
    "PSD": _psd,
    "ICO": lambda: _pillow("ICO"),
}


@pytest.fixture
def no_programs(monkeypatch):
    """Fail the test if anything starts a program (Pillow's EPS plugin runs Ghostscript)."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a program was started: {args[0] if args else kwargs}")

    monkeypatch.setattr(subprocess, "Popen", refuse)


@pytest.mark.parametrize("fmt", sorted(BODIES))
def test_a_format_outside_the_allow_list_is_refused_by_name(fmt, no_programs):
    with pytest.raises(UnsupportedFormatError, match=f"unsupported image format: {fmt}") as caught:
        load_image(BODIES[fmt]())
    assert caught.value.http_status == 415


@pytest.mark.parametrize("fmt", sorted(BODIES))
def test_a_batch_gives_the_refusal_as_an_error_row(fmt, no_programs, tmp_path):
    from photoqc.assess.extractor import FeatureExtractor
    from photoqc.assess.recipe import ExtractConfig
    from photoqc.segmentation import SegmenterConfig

    path = tmp_path / "photo.jpg"  # named as a JPEG, as an attacker would
    path.write_bytes(BODIES[fmt]())
    row = FeatureExtractor(ExtractConfig(segmenter=SegmenterConfig(kind="none"))).row(path)
    assert row["status"] == "error"
    assert row["error"].startswith(f"unsupported image format: {fmt}")


def test_every_allowed_format_still_decodes(astronaut):
    encoded = {
        "JPEG": _pillow("JPEG"),
        "PNG": _pillow("PNG"),
        "WEBP": _pillow("WEBP"),
        "GIF": _pillow("GIF"),
        "BMP": _pillow("BMP"),
        "TIFF": _pillow("TIFF"),
    }
    for fmt, body in encoded.items():
        assert load_image(body).format == fmt
    assert {"HEIF", "AVIF"} <= set(DECODED_FORMATS)
