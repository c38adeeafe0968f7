"""The classifier bundle, SHAP values and reasons, on a model trained on real photos."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from photoqc.assess.recipe import ExtractConfig, RecipeOptions
from photoqc.features import spec_index, table_groups
from photoqc.models.bundle import BundleError, ModelBundle, load_bundle, new_meta
from photoqc.models.classifier import GoodBadClassifier
from photoqc.models.explain import GoodRange, describe, top_reasons
from photoqc.pipelines.batch.inputs import InputItem
from photoqc.pipelines.demo import source_photo
from photoqc.synthetic.defects import defocus_blur, underexpose

SPECS = spec_index(table_groups())


def say(feature: str, value: float, typical: float) -> tuple[str, str]:
    """(family, sentence) of ``feature`` at ``value`` where good photos have ``typical``."""
    spec = SPECS[feature]
    return spec.family, describe(spec, value, typical)


def points(typical: dict[str, float]) -> dict[str, GoodRange]:
    """Good photos known only by their medians."""
    return {k: GoodRange.point(v) for k, v in typical.items()}


@pytest.fixture(scope="module")
def bundle(demo_run):
    return load_bundle(demo_run.model_dir)


@pytest.fixture(scope="module")
def train_features(demo_run, bundle):
    # What the model learnt from: the features and its learned impression (out of fold).
    return demo_run.outcome.X[bundle.feature_names].astype(float).reset_index(drop=True)


def test_bundle_records_what_is_needed_to_use_it(demo_run, bundle):
    meta = bundle.meta
    assert meta["feature_names"] == bundle.booster.feature_name()
    assert meta["feature_config"]["segmenter"]["kind"] == "none"
    assert 0 < meta["threshold"] < 1 and "F1" in meta["threshold_rule"]
    assert meta["cv_metrics"]["roc_auc_mean"] > 0.7
    assert set(meta["good_ranges"]) == set(meta["feature_names"])
    for median, low, high in meta["good_ranges"].values():
        assert low <= median <= high
    assert meta["photoqc_version"] and meta["created"]
    for name in ("roc.png", "pr.png", "cv_predictions.csv", "model.txt", "photoqc.json"):
        assert (demo_run.model_dir / name).is_file()


def test_bundle_round_trip_gives_identical_predictions(bundle, train_features, tmp_path):
    copy = ModelBundle(
        bundle.booster,
        json.loads(json.dumps(bundle.meta)),
        readout=bundle.readout,
        heads=bundle.heads,
    )
    copy.save(tmp_path / "copy")
    again = load_bundle(tmp_path / "copy")
    np.testing.assert_array_equal(
        again.predict_good(train_features), bundle.predict_good(train_features)
    )
    assert again.threshold == bundle.threshold


def test_a_model_needing_unknown_features_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"brightness": rng.random(60), "teleport_score": rng.random(60)})
    y = (X["brightness"] > 0.5).astype(float).to_numpy()
    model = GoodBadClassifier(n_estimators=5).fit(X, y)
    meta = new_meta(
        feature_names=list(X.columns),
        feature_config={
            "segmenter": {"kind": "none"},
            "nima": [],
            "analysis_long_side": 1024,
            "max_pixels": 1000,
        },
        threshold=0.5,
        threshold_rule="test",
        cv_metrics={},
        good_ranges={},
        training={},
    )
    ModelBundle(model.booster_, meta).save(tmp_path / "m")
    with pytest.raises(BundleError, match=r"feature schema mismatch.*teleport_score"):
        load_bundle(tmp_path / "m")


def test_a_tampered_model_file_is_refused(demo_run, tmp_path):
    folder = tmp_path / "tampered"
    shutil.copytree(demo_run.model_dir, folder)
    text = (folder / "model.txt").read_text()
    (folder / "model.txt").write_text(text.replace("leaf_value=", "leaf_value=9", 1))
    with pytest.raises(BundleError, match="sha256 mismatch"):
        load_bundle(folder)


def test_tampered_or_foreign_descriptions_are_refused(demo_run, tmp_path):
    folder = tmp_path / "edited"
    shutil.copytree(demo_run.model_dir, folder)
    meta = json.loads((folder / "photoqc.json").read_text())
    for change, message in (
        ({"threshold": 7}, "threshold: Input should be less than 1"),
        ({"format_version": 99}, "upgrade photoqc"),
        ({"feature_names": list(reversed(meta["feature_names"]))}, "sha256 mismatch"),
        ({"format": "something-else"}, "not a photoqc-model"),
    ):
        (folder / "photoqc.json").write_text(json.dumps({**meta, **change}))
        with pytest.raises(BundleError, match=message):
            load_bundle(folder)
    (folder / "photoqc.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(folder)
    with pytest.raises(BundleError, match="not a photoqc model folder"):
        load_bundle(tmp_path)


@pytest.mark.slow
def test_shap_values_equal_shap_treeexplainer_and_sum_to_the_margin(bundle, train_features):
    shap = pytest.importorskip("shap")
    X = train_features.iloc[:40]
    ours, expected = bundle.contributions(X)
    theirs = shap.TreeExplainer(bundle.booster).shap_values(X)
    if isinstance(theirs, list):  # older shap: one array per class for binary models
        theirs = theirs[1]
    theirs = np.asarray(theirs)
    if theirs.ndim == 3:  # some versions: (n, features, classes)
        theirs = theirs[..., -1]
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    np.testing.assert_allclose(ours.sum(axis=1) + expected, bundle.raw_score(X), atol=1e-6)
    assert np.abs(ours).max() > 0.1  # not a trivial equality of zeros


def _features_of(image, bundle, tmp_path, name):
    from conftest import encode

    path = tmp_path / f"{name}.jpg"
    path.write_bytes(encode(image, "JPEG", quality=92))
    from photoqc.assess.scorer import Scorer

    config, _ = ExtractConfig.from_record(bundle.recipe, RecipeOptions(offline=True))
    # The scorer's row: the features and the model's learned impression of the same pass.
    return Scorer(bundle, config).assess([InputItem(name, path)])[0].row


@pytest.mark.parametrize(
    ("defect", "family", "words"),
    [
        (lambda im: underexpose(im, 0.95), "exposure", ("dark", "black")),
        (lambda im: defocus_blur(im, 1.0), "sharpness", ("blur",)),
    ],
    ids=["darkened", "blurred"],
)
def test_top_reason_names_the_injected_defect(bundle, tmp_path, defect, family, words):
    # coffee is one of the demo's held-out scenes: the model never saw it in training.
    original = source_photo("coffee")
    rows = [
        _features_of(im, bundle, tmp_path, n)
        for im, n in ((original, "orig"), (defect(original), "bad"))
    ]
    frame = pd.DataFrame(rows)
    p_good = bundle.predict_good(frame)
    assert p_good[1] < bundle.threshold < p_good[0] or p_good[1] < p_good[0] - 0.3
    contributions, _ = bundle.contributions(frame)
    reasons = top_reasons(
        rows[1], contributions[1], bundle.feature_names, bundle.good_ranges, bundle.specs
    )
    assert reasons, "a clearly defective photo must get a reason"
    assert reasons[0].family == family, [r.text for r in reasons]
    assert any(w in reasons[0].text for w in words), reasons[0].text


def test_reason_sentences_say_the_value_and_what_is_typical():
    family, text = say("brightness", 0.12, 0.45)
    assert family == "exposure" and text == "too dark: brightness 0.12 (good photos: ~0.45)"
    family, text = say("clipped_white_fraction", 0.041, 0.002)
    assert family == "exposure"
    assert text == "4.1% of pixels blown out to white (good photos: ~0.2%)"
    _, text = say("q_bl_brightness_diff", 0.41, 0.05)
    assert text.startswith("background much darker than the object in the bottom-left quarter")
    _, text = say("object_touches_border", 1.0, 0.0)
    assert text == "object cut off at the edge of the frame"
    _, text = say("nima_aesthetic_mean", 3.9, 5.2)
    assert text == "low NIMA aesthetic score 3.9 (good photos: ~5.2)"


def test_extract_config_of_the_bundle_matches_training(bundle):
    config, warnings = ExtractConfig.from_record(bundle.recipe, RecipeOptions(offline=True))
    assert config.segmenter.kind == "none" and not warnings
    from photoqc.features.nima import LEARNED_FEATURES, READOUT_FEATURE

    # Every feature the recipe makes, and the model's own learned ones.
    learned = {READOUT_FEATURE, *LEARNED_FEATURES}
    assert set(bundle.feature_names) - learned <= set(config.feature_names())
    assert isinstance(config, ExtractConfig)


def test_unmeasured_features_are_never_given_as_reasons():
    names = ["q_br_brightness_diff", "q_br_brightness", "sharpness_relative"]
    values = {
        "q_br_brightness_diff": float("nan"),
        "q_br_brightness": 0.1,
        "sharpness_relative": 0.05,
    }
    typical = {"q_br_brightness_diff": 0.0, "q_br_brightness": 0.4, "sharpness_relative": 0.4}
    reasons = top_reasons(values, [-2.0, -0.3, -0.5], names, points(typical), SPECS)
    assert [r.feature for r in reasons] == ["sharpness_relative", "q_br_brightness"]
    assert all("could not be measured" not in r.text for r in reasons)


def test_object_background_differences_are_worded_by_their_sign():
    _, text = say("object_background_brightness_diff", -0.3, 0.05)
    assert text.startswith("object much darker than the background (-0.30")
    # +0.02 where good photos have +0.05: the object is still the brighter one, it just
    # does not stand out; "much darker" would be false.
    _, text = say("q_bl_brightness_diff", 0.02, 0.05)
    assert text.startswith("object hardly stands out from the background in brightness in the ")
    _, text = say("object_background_contrast_diff", 0.01, 0.08)
    assert text.startswith("object and background alike in contrast")
    _, text = say("object_background_contrast_diff", -0.2, 0.08)
    assert text.startswith("object flatter than the background")


def test_a_reason_shows_a_difference_the_moderator_can_read():
    # The quarter difference prints as 0.05 like good photos' 0.05: it must not be the
    # reason; the family's next feature, visibly off, speaks instead.
    names = ["q_br_brightness_diff", "q_tr_brightness_diff"]
    values = {"q_br_brightness_diff": 0.0496, "q_tr_brightness_diff": -0.25}
    typical = {"q_br_brightness_diff": 0.0502, "q_tr_brightness_diff": 0.05}
    good = points(typical)
    reasons = top_reasons(values, [-0.9, -0.4], names, good, SPECS)
    assert [r.feature for r in reasons] == ["q_tr_brightness_diff"]
    assert reasons[0].contribution == -0.4 and reasons[0].family_contribution == -1.3
    # With nothing visibly off, the family gives no sentence at all.
    unchanged = {**values, "q_tr_brightness_diff": 0.0498}
    assert top_reasons(unchanged, [-0.9, -0.4], names, good, SPECS) == []


def test_new_feature_families_read_as_moderator_words():
    family, text = say("cell_mc_brightness", 0.08, 0.41)
    assert (
        family == "exposure"
        and text == "dark centre of the frame: brightness 0.08 (good photos: ~0.41)"
    )
    family, text = say("cell_centre_sharpness_share", 0.1, 0.6)
    assert family == "sharpness" and text.startswith("centre softer than the rest")
    family, text = say("chroma_noise", 9.0, 1.5)
    assert family == "noise" and text.startswith("colour speckle noise: 9.0")
    family, text = say("jpeg_blockiness", 2.4, 1.05)
    assert family == "compression" and "8x8 block edges 2.40x" in text
    family, text = say("colour_cast", 40.0, 8.0)
    assert family == "colour" and text.startswith("colour cast: the whole photo tinted")
    # Texture statistics move with blur, noise and compression alike: they never speak,
    # so a reason always names the defect rather than a statistic.
    assert describe(SPECS["nss_s0_shape"], 0.9, 1.5) == ""
    assert describe(SPECS["nss_s0_local_contrast_p99"], 0.05, 0.2) == ""


def test_a_shortfall_the_whole_frame_shares_is_said_as_a_whole_frame_defect():
    from photoqc.models.explain import whole_frame_feature

    good = points(
        {"q_bl_brightness": 0.45, "quadrant_brightest_brightness": 0.6, "brightness": 0.45}
    )
    dark_everywhere = {
        "q_bl_brightness": 0.08,
        "quadrant_brightest_brightness": 0.12,
        "brightness": 0.1,
    }
    dark_corner = {"q_bl_brightness": 0.08, "quadrant_brightest_brightness": 0.7, "brightness": 0.4}
    corner = SPECS["q_bl_brightness"]
    assert whole_frame_feature(corner, dark_everywhere, good) == "brightness"
    assert whole_frame_feature(corner, dark_corner, good) == "q_bl_brightness"
    names = ["q_bl_brightness", "quadrant_brightest_brightness"]
    reasons = top_reasons(dark_everywhere, [-1.0, -0.1], names, good, SPECS)
    assert reasons[0].feature == "brightness"
    assert reasons[0].text.startswith("too dark: brightness 0.10"), reasons[0].text
    reasons = top_reasons(dark_corner, [-1.0, 0.2], names, good, SPECS)
    assert reasons[0].text.startswith("dark bottom-left quarter: brightness 0.08")


def test_a_reason_is_given_only_when_visibly_off_on_a_defect_side():
    names = ["brightness"]
    good = {"brightness": GoodRange(0.44, 0.30, 0.60)}
    # 0.42 against good photos' 0.44 (0.30-0.60): however hard SHAP pushes, not "too dark".
    assert top_reasons({"brightness": 0.42}, [-2.0], names, good, SPECS) == []
    (reason,) = top_reasons({"brightness": 0.12}, [-2.0], names, good, SPECS)
    assert reason.text == "too dark: brightness 0.12 (good photos: ~0.44)"
    (reason,) = top_reasons({"brightness": 0.83}, [-2.0], names, good, SPECS)
    assert reason.text.startswith("too bright")
    # A sharper photo than good ones is never "blurry", nor "too sharp", whatever SHAP says.
    good = {"sharpness_laplacian": GoodRange(600.0, 200.0, 1500.0)}
    values = {"sharpness_laplacian": 5000.0}
    assert top_reasons(values, [-2.0], ["sharpness_laplacian"], good, SPECS) == []
    # Noise is a defect only when high.
    good = {"noise_sigma": GoodRange(2.0, 1.0, 4.0)}
    assert top_reasons({"noise_sigma": 0.2}, [-2.0], ["noise_sigma"], good, SPECS) == []
    (reason,) = top_reasons({"noise_sigma": 12.0}, [-2.0], ["noise_sigma"], good, SPECS)
    assert reason.family == "noise" and reason.text.startswith("noisy")


def test_feature_specs_agree_with_their_direction():
    from photoqc.features import Direction

    for spec in SPECS.values():
        if spec.direction is Direction.HIGHER_BETTER:
            assert not spec.high, spec.name
        if spec.direction is Direction.HIGHER_WORSE:
            assert not spec.low, spec.name
        for phrase in (spec.low, spec.high, spec.near):
            assert "_" not in phrase.replace("{", "").split("(")[0], (spec.name, phrase)


def test_the_classifier_follows_scikit_learn_s_estimator_conventions():
    from sklearn.base import clone

    rng = np.random.default_rng(1)
    X = pd.DataFrame({"brightness": rng.random(80), "contrast": rng.random(80)})
    y = (X["brightness"] + 0.2 * rng.random(80) > 0.6).astype(float).to_numpy()
    model = GoodBadClassifier(n_estimators=30, random_state=3, monotone=[1, 0])
    params = model.get_params()
    assert params["n_estimators"] == 30 and params["monotone"] == [1, 0]
    assert not hasattr(model, "booster_")  # no work in __init__
    twin = clone(model).set_params(n_estimators=12)
    assert twin.get_params()["n_estimators"] == 12 and model.n_estimators == 30
    twin.fit(X, y)
    assert 1 <= twin.best_iteration_ <= 12 and twin.feature_names_in_ == ["brightness", "contrast"]
    assert twin.predict_proba(X).shape == (80, 2) and set(twin.predict(X)) <= {0, 1}
    assert 0.5 < twin.score(X, y.astype(int)) <= 1.0


def test_a_model_folder_scores_through_its_classifier(bundle, train_features):
    """One scoring path: the folder's p_good and SHAP values are its classifier's."""
    classifier = bundle.classifier
    np.testing.assert_array_equal(
        bundle.predict_good(train_features), classifier.predict_good(train_features)
    )
    shap, expected = bundle.contributions(train_features)
    np.testing.assert_allclose(
        shap.sum(axis=1) + expected, classifier.raw_score(train_features), atol=1e-9
    )
    with pytest.raises(BundleError, match="features missing for this model"):
        bundle.predict_good(train_features.drop(columns=bundle.feature_names[:1]))
