"""Features give known answers on synthetic images and behave on real photos."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from conftest import encode
from skimage import data

from photoqc.features import FEATURE_GROUPS, compute_features, feature_names, feature_specs
from photoqc.features.clipping import CLIP_BLACK_LEVEL, CLIP_WHITE_LEVEL
from photoqc.features.noise import noise_sigma
from photoqc.images import load_image

SHARPNESS = (
    "sharpness_laplacian",
    "sharpness_tenengrad",
    "sharpness_laplacian_native",
    "sharpness_tenengrad_native",
)


def test_registry_names_are_unique_described_and_complete(astronaut):
    names = feature_names()
    assert len(names) == len(set(names))
    for spec in feature_specs():
        assert spec.description and len(spec.description) > 15, spec.name
    row = compute_features(astronaut)
    assert tuple(row) == names
    assert all(isinstance(v, float) for v in row.values())
    assert sum(len(g.specs) for g in FEATURE_GROUPS) == len(names)


def test_half_white_half_black_is_half_clipped_each_way():
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, 30:] = 255
    row = compute_features(image)
    assert row["clipped_white_fraction"] == pytest.approx(0.5)
    assert row["clipped_black_fraction"] == pytest.approx(0.5)
    assert row["brightness"] == pytest.approx(0.5)
    assert row["contrast"] == pytest.approx(0.5)


def test_clipping_thresholds_are_inclusive_and_exclusive_where_documented():
    image = np.zeros((1, 4, 3), np.uint8)
    image[0] = [
        [CLIP_WHITE_LEVEL] * 3,
        [CLIP_WHITE_LEVEL - 1] * 3,
        [CLIP_BLACK_LEVEL] * 3,
        [CLIP_BLACK_LEVEL + 1] * 3,
    ]
    row = compute_features(image)
    assert row["clipped_white_fraction"] == pytest.approx(0.25)
    assert row["clipped_black_fraction"] == pytest.approx(0.25)


def test_mid_grey_has_no_clipping_and_known_brightness():
    row = compute_features(np.full((30, 30, 3), 128, np.uint8))
    assert row["clipped_white_fraction"] == 0.0 and row["clipped_black_fraction"] == 0.0
    assert row["brightness"] == pytest.approx(128 / 255)
    assert row["contrast"] == pytest.approx(0.0)
    assert row["colourfulness"] == pytest.approx(0.0)


@pytest.mark.parametrize("photo", ["astronaut", "chelsea", "coffee"])
def test_more_gaussian_blur_means_lower_sharpness(photo, request):
    image = request.getfixturevalue(photo)
    values = []
    for sigma in (0, 1, 2, 4, 8):
        blurred = image if sigma == 0 else cv2.GaussianBlur(image, (0, 0), sigma)
        row = compute_features(blurred)
        values.append([row[name] for name in SHARPNESS])
    values = np.array(values)
    assert (np.diff(values, axis=0) < 0).all(), values


def test_native_sharpness_sees_softness_that_the_analysis_scale_evens_out(astronaut):
    # The same content enlarged 2x and 4x: alike at the fixed analysis scale (512 px),
    # but the 4x one is far softer pixel for pixel.
    x2 = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    x4 = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    r2, r4 = compute_features(x2), compute_features(x4)
    assert r4["sharpness_laplacian_native"] < 0.3 * r2["sharpness_laplacian_native"]
    assert 0.5 < r4["sharpness_laplacian"] / r2["sharpness_laplacian"] < 2.0


@pytest.mark.parametrize("sigma", [3.0, 5.0, 10.0, 20.0])
def test_noise_sigma_on_smooth_gradient_within_25_percent(sigma):
    rng = np.random.default_rng(int(sigma))
    base = np.tile(np.linspace(50, 200, 480), (360, 1))
    noisy = np.clip(np.rint(base + rng.normal(0, sigma, base.shape)), 0, 255).astype(np.uint8)
    estimate = compute_features(np.dstack([noisy] * 3))["noise_sigma"]
    assert estimate == pytest.approx(sigma, rel=0.25)


@pytest.mark.parametrize("photo", ["astronaut", "chelsea", "coffee"])
@pytest.mark.parametrize("sigma", [5.0, 10.0, 20.0])
def test_noise_sigma_on_real_photos_within_25_percent(photo, sigma, request):
    gray = cv2.cvtColor(request.getfixturevalue(photo), cv2.COLOR_RGB2GRAY).astype(np.float64)
    rng = np.random.default_rng(7)
    noisy = np.clip(np.rint(gray + rng.normal(0, sigma, gray.shape)), 0, 255)
    # The photo's own noise adds in quadrature to what we injected.
    own = noise_sigma(gray.astype(np.uint8))
    expected = math.hypot(sigma, own)
    assert noise_sigma(noisy.astype(np.uint8)) == pytest.approx(expected, rel=0.25)


def test_noise_grows_with_injected_noise(chelsea):
    rng = np.random.default_rng(3)
    estimates = [
        compute_features(
            np.clip(chelsea + rng.normal(0, s, chelsea.shape), 0, 255).astype(np.uint8)
        )["noise_sigma"]
        for s in (0, 4, 8, 16)
    ]
    assert np.all(np.diff(estimates) > 0), estimates


@pytest.mark.parametrize("quadrant", ["tl", "tr", "bl", "br"])
def test_darkening_a_quadrant_makes_it_the_darkest(astronaut, quadrant):
    image = astronaut.copy()
    h, w = image.shape[:2]
    rows = slice(0, h // 2) if quadrant[0] == "t" else slice(h // 2, h)
    cols = slice(0, w // 2) if quadrant[1] == "l" else slice(w // 2, w)
    before = compute_features(image)
    image[rows, cols] = (image[rows, cols] * 0.15).astype(np.uint8)
    row = compute_features(image)
    per_quadrant = {q: row[f"q_{q}_brightness"] for q in ("tl", "tr", "bl", "br")}
    assert min(per_quadrant, key=per_quadrant.get) == quadrant
    assert row["quadrant_darkest_brightness"] == pytest.approx(per_quadrant[quadrant])
    assert row["quadrant_darkest_brightness"] < before["quadrant_darkest_brightness"]


@pytest.mark.parametrize("quality", list(range(30, 96, 5)))
def test_jpeg_quality_estimate_within_5(chelsea, quality):
    loaded = load_image(encode(chelsea, "JPEG", quality=quality))
    row = compute_features(loaded.pixels, jpeg_quantization=loaded.jpeg_quantization)
    assert abs(row["jpeg_quality"] - quality) <= 5


def test_jpeg_quality_is_nan_for_png(chelsea):
    loaded = load_image(encode(chelsea))
    assert math.isnan(
        compute_features(loaded.pixels, jpeg_quantization=loaded.jpeg_quantization)["jpeg_quality"]
    )


def test_geometry():
    row = compute_features(np.zeros((200, 300, 3), np.uint8))
    assert (row["width"], row["height"]) == (300, 200)
    assert row["megapixels"] == pytest.approx(0.06)
    assert row["aspect_ratio"] == pytest.approx(1.5)


def test_colourfulness_orders_grey_dull_and_vivid(chelsea):
    grey = np.dstack([cv2.cvtColor(chelsea, cv2.COLOR_RGB2GRAY)] * 3)
    hsv = cv2.cvtColor(chelsea, cv2.COLOR_RGB2HSV)
    hsv[..., 1] = np.clip(hsv[..., 1].astype(int) * 2.5, 0, 255).astype(np.uint8)
    vivid = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    values = [compute_features(im)["colourfulness"] for im in (grey, chelsea, vivid)]
    assert values[0] == pytest.approx(0.0, abs=1e-6)
    assert values[0] < values[1] < values[2]


def _object_scene(obj_level: int, bg_level: int, box=(60, 140, 80, 220)):
    image = np.full((200, 300, 3), bg_level, np.uint8)
    mask = np.zeros((200, 300), bool)
    y0, y1, x0, x1 = box
    image[y0:y1, x0:x1] = obj_level
    mask[y0:y1, x0:x1] = True
    return image, mask


def test_object_and_background_brightness_and_difference():
    image, mask = _object_scene(204, 51)
    row = compute_features(image, mask)
    assert row["object_found"] == 1.0
    assert row["object_area_fraction"] == pytest.approx(mask.mean())
    assert row["object_brightness"] == pytest.approx(0.8, abs=1e-6)
    assert row["background_brightness"] == pytest.approx(0.2, abs=1e-6)
    assert row["object_background_brightness_diff"] == pytest.approx(0.6, abs=1e-6)
    assert row["object_contrast"] == pytest.approx(0.0, abs=1e-6)
    assert row["object_touches_border"] == 0.0


def test_object_at_the_frame_touches_border():
    image, mask = _object_scene(200, 50, box=(0, 120, 100, 200))
    assert compute_features(image, mask)["object_touches_border"] == 1.0


def test_no_object_means_nan_object_features_and_object_found_zero(astronaut):
    for mask in (None, np.zeros(astronaut.shape[:2], bool)):
        row = compute_features(astronaut, mask)
        assert row["object_found"] == 0.0
        object_names = [n for n in row if "object" in n or "background" in n or n.endswith("_diff")]
        object_names.remove("object_found")
        assert object_names and all(math.isnan(row[n]) for n in object_names)
        # Global and whole-quadrant features do not need the object.
        assert not math.isnan(row["q_tl_brightness"]) and not math.isnan(row["brightness"])


def test_quadrant_object_background_difference_points_at_the_right_quarter():
    image = np.full((200, 200, 3), 100, np.uint8)
    mask = np.zeros((200, 200), bool)
    mask[50:150, 50:150] = True
    image[100:150, 50:100] = 230  # the object's bottom-left part is lit
    image[0:100, 100:200][~mask[0:100, 100:200]] = 20  # the top-right background is dark
    row = compute_features(image, mask)
    assert row["q_bl_brightness_diff"] == pytest.approx((230 - 100) / 255, abs=1e-6)
    assert row["q_tl_brightness_diff"] == pytest.approx(0.0, abs=1e-6)
    assert row["q_tr_background_brightness"] == pytest.approx(20 / 255, abs=1e-6)
    assert row["q_tr_brightness_diff"] == pytest.approx(80 / 255, abs=1e-6)


def test_sharp_object_on_soft_background_has_sharpness_ratio_above_one(astronaut):
    mask = np.zeros(astronaut.shape[:2], bool)
    mask[128:384, 128:384] = True
    soft = cv2.GaussianBlur(astronaut, (0, 0), 4)
    shallow_focus = np.where(mask[..., None], astronaut, soft)
    missed_focus = np.where(mask[..., None], soft, astronaut)
    a, b = compute_features(shallow_focus, mask), compute_features(missed_focus, mask)
    assert a["object_background_sharpness_ratio"] > 3
    assert b["object_background_sharpness_ratio"] < 1 / 3
    assert a["object_sharpness"] > b["object_sharpness"]


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (5, 1), (7, 9)])
def test_tiny_images_give_numbers_or_nan_never_errors(shape):
    image = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    mask = np.ones(shape, bool)
    row = compute_features(image, mask)
    assert not any(math.isinf(v) for v in row.values())
    assert row["width"] == shape[1]


def test_features_on_a_real_phone_photo_are_in_their_ranges(clive_dir):
    loaded = load_image(clive_dir / "images" / "1002.JPG")
    row = compute_features(loaded.pixels, jpeg_quantization=loaded.jpeg_quantization)
    assert 0 < row["brightness"] < 1 and 0 < row["contrast"] < 0.5
    assert 1 <= row["jpeg_quality"] <= 100
    assert row["noise_sigma"] >= 0 and row["sharpness_laplacian"] > 0


def test_blown_out_areas_do_not_make_a_noisy_photo_look_clean(chelsea):
    rng = np.random.default_rng(5)
    noisy = np.clip(chelsea + rng.normal(0, 8, chelsea.shape), 0, 255).astype(np.uint8)
    blown = noisy.copy()
    blown[: chelsea.shape[0] * 2 // 3] = 255  # two thirds of the frame clipped to white
    assert compute_features(blown)["noise_sigma"] == pytest.approx(
        compute_features(noisy)["noise_sigma"], rel=0.25
    )


def test_region_contrast_ignores_exposure_but_sees_flat_light(astronaut):
    from photoqc.synthetic.defects import low_contrast, underexpose

    mask = np.zeros(astronaut.shape[:2], bool)
    mask[100:400, 150:350] = True
    base = compute_features(astronaut, mask)
    darker = compute_features(underexpose(astronaut, 0.6), mask)
    flatter = compute_features(low_contrast(astronaut, 0.6), mask)
    for name in ("q_tr_contrast", "object_contrast", "q_bl_background_contrast"):
        assert darker[name] == pytest.approx(base[name], rel=0.1), name
        assert flatter[name] < 0.6 * base[name], name
    assert darker["q_tr_brightness"] < 0.8 * base["q_tr_brightness"]


def test_a_large_photo_measured_on_two_threads_gets_the_same_values():
    """A photo measured on native tiles has its tile work done on a second thread; the
    row must be the one a single thread gives, value for value and in table order."""
    from photoqc.features import FEATURE_GROUPS, FeatureInput, measure

    big = cv2.resize(data.coffee(), (2400, 1600), interpolation=cv2.INTER_CUBIC)
    big = np.clip(big + np.random.default_rng(1).normal(0, 4, big.shape), 0, 255).astype(np.uint8)
    mask = np.zeros(big.shape[:2], bool)
    mask[400:1200, 600:1800] = True

    def row(split: bool) -> dict[str, float]:
        x = FeatureInput(big, mask)
        assert len(x.native_windows) > 1  # large enough to be tiled, so the split runs
        return measure(x, FEATURE_GROUPS, split_large=split)

    one, two = row(False), row(True)
    assert list(two) == list(one)
    np.testing.assert_array_equal(np.array(list(two.values())), np.array(list(one.values())))
    assert one["noise_sigma"] > 1 and one["object_found"] == 1.0


def test_the_quantile_of_whole_levels_is_numpys():
    from photoqc.features.stats import level_quantile

    rng = np.random.default_rng(2)
    for size in (1, 2, 7, 1000, 250_000):
        levels = np.minimum(rng.geometric(0.03, size), 255)
        counts = np.bincount(levels, minlength=256)
        for q in (0.0, 0.01, 0.5, 0.99, 0.999, 1.0, float(rng.random())):
            assert level_quantile(counts, q) == pytest.approx(np.quantile(levels, q), abs=1e-9)
    assert np.isnan(level_quantile(np.zeros(256, int), 0.5))
