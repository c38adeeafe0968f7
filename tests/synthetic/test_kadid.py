"""KADID-10k's 25 distortion types: each changes a real photo the way its name says, and
its full-reference fidelity falls level by level."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from photoqc.metrics import fidelity
from photoqc.synthetic.kadid import DISTORTIONS, LEVELS, distort


def _luma(image):
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)


def _sharpness(image):
    return cv2.Laplacian(_luma(image), cv2.CV_64F).var()


def _saturation(image):
    return cv2.cvtColor(image, cv2.COLOR_RGB2HSV)[..., 1].mean()


def _chroma(image):
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float64)
    return np.hypot(lab[..., 1] - 128, lab[..., 2] - 128).mean()


def _colours(image):
    return len(np.unique(image.reshape(-1, 3), axis=0))


def _flat_noise(image):
    """Residual of a 3x3 median, in luma: noise shows, smooth content does not."""
    luma = _luma(image)
    return np.abs(luma - cv2.medianBlur(luma.astype(np.uint8), 3)).mean()


def _blockiness(image):
    luma = _luma(image)
    steps = np.abs(np.diff(luma, axis=1)).mean(axis=0)
    usable = len(steps) // 8 * 8
    per_phase = steps[:usable].reshape(-1, 8).mean(axis=0)
    return per_phase.max() / np.median(per_phase)


def _extremes(image):
    return np.mean((image == 0).all(axis=2) | (image == 255).all(axis=2))


def _same_histogram(a, b):
    return np.abs(np.sort(_luma(a).ravel()) - np.sort(_luma(b).ravel())).mean() < 2.0


# Each type: a measure and how it must move from the photo to level 5 ("lower"/"higher"),
# or a check of its own.
SAYS = {
    "gaussian_blur": (_sharpness, "lower"),
    "lens_blur": (_sharpness, "lower"),
    "motion_blur": (_sharpness, "lower"),
    "colour_diffusion": (
        lambda i: np.abs(
            np.diff(cv2.cvtColor(i, cv2.COLOR_RGB2LAB)[..., 1].astype(float), axis=1)
        ).mean(),
        "lower",
    ),
    "colour_shift": (lambda i: i[..., 1].astype(float), "moves green only"),
    "colour_quantisation": (_colours, "lower"),
    "colour_saturation_hsv": (_saturation, "lower"),
    "colour_saturation_lab": (_chroma, "higher"),
    "jpeg2000": (_sharpness, "lower"),
    "jpeg": (_blockiness, "higher"),
    "white_noise": (_flat_noise, "higher"),
    "white_noise_colour": (_chroma, "noise in colour, not light"),
    "impulse_noise": (_extremes, "higher"),
    "multiplicative_noise": (_flat_noise, "higher"),
    "denoise": (_sharpness, "lower"),
    "brighten": (lambda i: _luma(i).mean(), "higher"),
    "darken": (lambda i: _luma(i).mean(), "lower"),
    "mean_shift": (lambda i: _luma(i).mean(), "higher"),
    "jitter": (None, "moves pixels, keeps tones"),
    "patch_shift": (None, "moves patches, keeps tones"),
    "pixelate": (_colours, "lower"),
    "quantisation": (lambda i: len(np.unique(i)), "lower"),
    "colour_block": (None, "solid squares"),
    "high_sharpen": (_sharpness, "higher"),
    "contrast_change": (lambda i: _luma(i).std(), "lower"),
}


def test_the_registry_has_kadid_s_25_types_in_7_families():
    assert len(DISTORTIONS) == 25 and set(SAYS) == set(DISTORTIONS)
    assert {family for family, _ in DISTORTIONS.values()} == {
        "blur", "colour", "compression", "noise", "brightness", "spatial",
        "sharpness and contrast",
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(DISTORTIONS))
def test_each_type_does_what_its_name_says_and_worsens_with_its_level(name, astronaut):
    photo = astronaut
    strongest = distort(photo, name, 5)
    assert strongest.shape == photo.shape and strongest.dtype == np.uint8
    assert not np.array_equal(strongest, photo)
    np.testing.assert_array_equal(distort(photo, name, 3, seed=4), distort(photo, name, 3, seed=4))
    measure, says = SAYS[name]
    if says == "lower":
        assert measure(strongest) < 0.95 * measure(photo), name
    elif says == "higher":
        assert measure(strongest) > 1.05 * measure(photo), name
    elif says == "moves green only":
        assert np.array_equal(strongest[..., 0], photo[..., 0])
        assert np.array_equal(strongest[..., 2], photo[..., 2])
        assert not np.array_equal(strongest[..., 1], photo[..., 1])
    elif says == "noise in colour, not light":
        light = np.abs(_luma(strongest) - _luma(photo)).mean()
        assert _flat_noise(strongest) > _flat_noise(photo) and light < 12
    elif says.startswith("moves"):
        assert _same_histogram(strongest, photo) and np.mean(strongest != photo) > 0.05
    elif says == "solid squares":
        changed = (strongest != photo).any(axis=2)
        assert 0.01 < changed.mean() < 0.2
        rows = np.flatnonzero(changed.any(axis=1))
        patch = strongest[rows[0] : rows[0] + 8, np.flatnonzero(changed[rows[0]])[0] :][:8, :8]
        assert len(np.unique(patch.reshape(-1, 3), axis=0)) <= 3
    scores = [fidelity(photo, distort(photo, name, level)) for level in LEVELS]
    assert all(a > b for a, b in itertools.pairwise(scores)), (name, scores)
    assert scores[0] < 1.0
