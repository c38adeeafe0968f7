"""The natural-scene-statistics and 3x3-grid features on known inputs and real photos."""

from __future__ import annotations

import math

import numpy as np
import pytest

from photoqc.features import compute_features
from photoqc.features.grid import CELLS, cell_edges
from photoqc.features.naturalness import fit_aggd, fit_ggd, mscn, neighbour_products
from photoqc.features.quadrants import quadrant_labels
from photoqc.features.stats import grid_labels
from photoqc.synthetic import defects


def test_ggd_fit_recovers_gaussian_and_laplacian_shapes():
    rng = np.random.default_rng(0)
    assert fit_ggd(rng.normal(size=200_000))[0] == pytest.approx(2.0, abs=0.05)
    assert fit_ggd(rng.laplace(size=200_000))[0] == pytest.approx(1.0, abs=0.05)
    _, variance = fit_ggd(rng.normal(scale=3.0, size=200_000))
    assert variance == pytest.approx(9.0, rel=0.02)


def test_aggd_fit_sees_asymmetry():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200_000)
    skewed = np.where(x < 0, 0.5 * x, 2.0 * x)
    _, mean, left, right = fit_aggd(skewed)
    assert left == pytest.approx(0.25, rel=0.05) and right == pytest.approx(4.0, rel=0.05)
    assert mean > 0  # heavier right side
    assert math.isnan(fit_aggd(np.abs(x))[0])  # no negative side: no fit


def test_mscn_of_white_noise_is_normalised_and_flat_topped():
    rng = np.random.default_rng(2)
    luma = np.clip(0.5 + 0.05 * rng.normal(size=(256, 256)), 0, 1)
    coefficients, sigma = mscn(luma)
    # The local mean includes the pixel itself (its Gaussian weight is ~0.11) and the spread
    # comes from a small window, so the variance is below 1: ~0.68 for white noise.
    assert 0.6 < float(np.var(coefficients)) < 0.8
    # Normalising by a spread measured on the same few pixels bounds the coefficients, so
    # white noise reads flatter than Gaussian (shape > 2), unlike a photo's peaky ~1-1.5.
    assert 2.0 < fit_ggd(coefficients)[0] < 4.0
    assert float(np.median(sigma)) == pytest.approx(0.05, rel=0.2)
    assert [p.shape for p in neighbour_products(coefficients)] == [
        (256, 255),
        (255, 256),
        (255, 255),
        (255, 255),
    ]


@pytest.mark.parametrize("photo", ["astronaut", "coffee"])
def test_blur_noise_and_jpeg_bend_the_statistics_as_brisque_describes(photo, request):
    image = request.getfixturevalue(photo)
    clean = compute_features(image)
    blurred = compute_features(defects.defocus_blur(image, 0.7))
    noisy = compute_features(defects.sensor_noise(image, 0.7))
    jpeg = compute_features(defects.heavy_jpeg(image, 1.0))
    # Blur: peakier MSCN distribution, less crisp local detail.
    assert blurred["nss_s0_shape"] < clean["nss_s0_shape"]
    assert blurred["nss_s0_kurtosis"] > clean["nss_s0_kurtosis"]
    assert blurred["nss_s0_local_contrast_p99"] < 0.6 * clean["nss_s0_local_contrast_p99"]
    # Noise: towards (and past) Gaussian, flat areas are no longer flat.
    assert noisy["nss_s0_shape"] > max(clean["nss_s0_shape"], 1.8)
    assert noisy["nss_s0_local_contrast_p10"] > 5 * clean["nss_s0_local_contrast_p10"]
    # Blocking: peaky coefficients at full scale.
    assert jpeg["nss_s0_shape"] < clean["nss_s0_shape"]


def test_naturalness_is_nan_where_it_cannot_be_measured():
    tiny = compute_features(np.full((6, 6, 3), 90, np.uint8))
    assert all(math.isnan(v) for k, v in tiny.items() if k.startswith("nss_"))
    flat = compute_features(np.full((64, 64, 3), 90, np.uint8))
    assert math.isnan(flat["nss_s0_shape"]) and flat["nss_s0_local_contrast_p99"] < 1e-3
    # 20 px: the first two scales are measured, the quarter scale (5 px) is not.
    small = compute_features(np.random.default_rng(0).integers(0, 255, (20, 20, 3), np.uint8))
    assert not math.isnan(small["nss_s1_shape"]) and math.isnan(small["nss_s2_shape"])


def test_quadrant_labels_put_an_odd_middle_row_in_the_top_half():
    labels = quadrant_labels((5, 4))
    assert labels[:3, :2].tolist() == [[0, 0]] * 3 and labels[3:, 2:].tolist() == [[3, 3]] * 2


def test_cell_edges_split_the_frame_in_near_equal_thirds_like_grid_labels():
    labels = grid_labels((10, 7), 3)
    rows, cols = cell_edges(10), cell_edges(7)
    assert rows == [0, 4, 7, 10] and cols == [0, 3, 5, 7]
    for i in range(3):
        for j in range(3):
            cell = labels[rows[i] : rows[i + 1], cols[j] : cols[j + 1]]
            assert (cell == i * 3 + j).all()
    assert CELLS[4] == "mc"


def test_a_dark_corner_shows_in_its_cell_and_the_darkest_cell(astronaut):
    clean = compute_features(astronaut)
    shaded = compute_features(defects.dark_corner(astronaut, 1.0))  # lower-left
    assert shaded["cell_bl_brightness"] < 0.5 * clean["cell_bl_brightness"]
    assert shaded["cell_tr_brightness"] == pytest.approx(clean["cell_tr_brightness"], rel=0.05)
    cells = [shaded[f"cell_{c}_brightness"] for c in CELLS]
    assert shaded["cell_darkest_brightness"] == pytest.approx(min(cells))


def test_a_soft_centre_lowers_the_centre_sharpness_share(astronaut):
    image = astronaut.copy()
    h, w = image.shape[:2]
    centre = (slice(h // 3, 2 * h // 3), slice(w // 3, 2 * w // 3))
    image[centre] = defects.defocus_blur(np.ascontiguousarray(image[centre]), 1.0)
    clean, soft = compute_features(astronaut), compute_features(image)
    assert soft["cell_mc_sharpness"] < 0.2 * clean["cell_mc_sharpness"]
    assert soft["cell_centre_sharpness_share"] < 0.5 * clean["cell_centre_sharpness_share"]
    assert soft["cell_sharpest_sharpness"] == pytest.approx(
        clean["cell_sharpest_sharpness"], rel=0.1
    )


def test_centre_value_reads_the_brightest_channel():
    image = np.zeros((30, 30, 3), np.uint8)
    image[10:20, 10:20] = (200, 0, 0)  # saturated red centre: dim in luma, bright in value
    row = compute_features(image)
    assert row["cell_mc_value"] == pytest.approx(200 / 255, abs=1e-6)
    assert row["cell_mc_brightness"] < 0.3
