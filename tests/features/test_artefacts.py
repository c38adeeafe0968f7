"""Artefact features on real photos: lone dots, posterised tones, solid blocks."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from photoqc.features import compute_features
from photoqc.features.artefacts import (
    impulse_fraction,
    solid_block_fraction,
    tone_levels_used,
)
from photoqc.synthetic.kadid import distort

PHOTOS = {"astronaut": data.astronaut, "coffee": data.coffee, "chelsea": data.chelsea}


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_clean_photos_read_clean(name):
    rgb = PHOTOS[name]()
    assert impulse_fraction(_luma(rgb)) < 1e-4
    assert tone_levels_used(rgb) == 1.0
    assert solid_block_fraction(rgb) == 0.0
    # Compression is its own defect: it neither posterises nor leaves lone dots.
    squeezed = _jpeg(rgb, 20)
    assert tone_levels_used(squeezed) > 0.9
    assert impulse_fraction(_luma(squeezed)) < 1e-4


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_impulse_fraction_counts_salt_and_pepper(name):
    rgb = PHOTOS[name]()
    values = [impulse_fraction(_luma(distort(rgb, "impulse_noise", lv))) for lv in (1, 3, 5)]
    assert values == sorted(values)
    # Level 3 salts 1 % of pixels; a few fall on pixels already black or white.
    assert 0.005 < values[1] <= 0.0105
    # Gaussian noise strong enough to be rejected is not salt and pepper.
    assert impulse_fraction(_luma(distort(rgb, "white_noise", 3))) < 1e-3


def test_impulse_fraction_on_a_large_photo_is_measured_on_native_pixels():
    rgb = cv2.resize(data.astronaut(), (3000, 3000), interpolation=cv2.INTER_CUBIC)
    salted = distort(rgb, "impulse_noise", 3)  # 1 % of native pixels
    row = compute_features(salted)
    assert 0.006 < row["impulse_fraction"] <= 0.0105
    assert compute_features(rgb)["impulse_fraction"] < 1e-4


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_tone_levels_used_falls_with_posterisation(name):
    rgb = PHOTOS[name]()
    levels = [tone_levels_used(distort(rgb, "quantisation", lv)) for lv in (1, 3, 5)]
    assert levels == sorted(levels, reverse=True)
    assert levels[0] < 0.3  # 20 levels per channel, each counted with its neighbours
    assert tone_levels_used(distort(rgb, "colour_quantisation", 1)) < 0.6  # 64 colours


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_stretched_and_shifted_tones_are_not_posterised(name):
    """A contrast stretch leaves single levels empty and a shift by half a level rounds
    onto every other one: both keep every tone they had (issue 33 saw "85 % of tones used"
    on mean-shift and contrast-change copies)."""
    rgb = PHOTOS[name]().astype(np.float32)
    for gain in (1.2, 2.0, 3.0):
        stretched = np.clip(np.rint((rgb - 128) * gain + 128), 0, 255).astype(np.uint8)
        assert tone_levels_used(stretched) == 1.0, gain
    half = np.clip(np.round(rgb + 76.5), 0, 255).astype(np.uint8)  # half to even
    assert tone_levels_used(half) == 1.0
    for level in range(1, 6):
        for kind in ("mean_shift", "contrast_change"):
            assert tone_levels_used(distort(PHOTOS[name](), kind, level)) == 1.0, (kind, level)


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_solid_block_fraction_finds_pasted_blocks_and_pixelation(name):
    rgb = PHOTOS[name]()
    blocks = [solid_block_fraction(distort(rgb, "colour_block", lv, seed=1)) for lv in (1, 3, 5)]
    assert blocks == sorted(blocks)
    assert blocks[2] > 0.02
    assert solid_block_fraction(distort(rgb, "pixelate", 5)) > 0.2


def test_a_plain_backdrop_is_no_solid_block():
    # A product shot on a seamless grey backdrop: the backdrop is one exact colour over
    # most of the frame, and that is what a listing photo wants.
    photo = np.full((600, 600, 3), 200, np.uint8)
    photo[150:450, 150:450] = data.coffee()[50:350, 150:450]
    assert solid_block_fraction(photo) == 0.0
    assert tone_levels_used(photo) > 0.9
    assert impulse_fraction(_luma(photo)) < 1e-4


def test_clipped_black_or_white_squares_are_no_solid_blocks():
    # A night shot: a sky crushed to near-black in small exact squares is clipping, which
    # the clipping features say; a pasted block of a mid colour is an artefact.
    photo = data.astronaut().copy()
    for y in range(0, 200, 40):
        photo[y : y + 16, 40:56] = (3, 14, 20)
        photo[y : y + 16, 100:116] = 252
    assert solid_block_fraction(photo) == 0.0
    photo[300:332, 300:332] = (40, 160, 90)
    assert solid_block_fraction(photo) == pytest.approx(64 / (128 * 128))
