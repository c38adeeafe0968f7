"""The model that ships with photoqc: loads offline, scores photos, and ranks defects lower."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import encode
from typer.testing import CliRunner

from photoqc.assess.recipe import ExtractConfig, RecipeOptions
from photoqc.cli import app
from photoqc.models.bundle import default_model_dir, load_bundle
from photoqc.pipelines.batch.inputs import InputItem
from photoqc.synthetic.defects import defocus_blur, underexpose

runner = CliRunner()


class _ScoredRows:
    """Feature rows as the model scores them: the recipe's features and the model's own
    learned impression of the same NIMA pass (what :class:`Scorer` adds)."""

    def __init__(self, bundle, config):
        from photoqc.assess.scorer import Scorer

        self.scorer = Scorer(bundle, config)
        self.config = config

    def rows(self, items):
        return [a.row for a in self.scorer.assess(items)]

    def row(self, item):
        return self.rows([item])[0]


@pytest.fixture(scope="module")
def default():
    bundle = load_bundle(default_model_dir())
    config, warnings = ExtractConfig.from_record(bundle.recipe, RecipeOptions(offline=True))
    scored = _ScoredRows(bundle, config)
    with scored.scorer:  # one scorer for the module: each holds both networks' sessions
        yield bundle, scored, warnings


def _p_good(default, images, tmp_path):
    bundle, extractor, _ = default
    items = []
    for i, image in enumerate(images):
        path = tmp_path / f"{i}.jpg"
        path.write_bytes(encode(image, "JPEG", quality=92))
        items.append(InputItem(str(path), path))
    rows = extractor.rows(items)
    assert all(r["status"] == "ok" for r in rows)
    return bundle.predict_good(pd.DataFrame(rows))


def test_default_model_needs_nothing_from_the_network(default):
    bundle, extractor, warnings = default
    assert bundle.recipe["segmenter"]["kind"] == "fastcut" and not warnings
    # NIMA is in the box: the model uses the shipped weights' scores.
    assert {"nima_technical_mean", "nima_aesthetic_mean"} <= set(bundle.feature_names)
    assert [n.name for n in extractor.config.nima] == ["aesthetic", "technical"]
    assert bundle.meta["training"]["images"] == 600
    assert bundle.meta["cv_metrics"]["roc_auc_oof"] > 0.85


def test_default_model_scores_a_scikit_image_photo(default, astronaut, tmp_path):
    (p,) = _p_good(default, [astronaut], tmp_path)
    assert 0.0 < p < 1.0


def test_default_model_scores_a_clive_photo(default, clive_dir, tmp_path):
    bundle, extractor, _ = default
    path = clive_dir / "images" / "1002.JPG"
    row = extractor.row(InputItem(str(path), path))
    assert row["status"] == "ok"
    assert 0.0 < bundle.predict_good(pd.DataFrame([row]))[0] < 1.0


@pytest.mark.parametrize("photo", ["astronaut", "coffee", "chelsea"])
def test_blurred_or_darkened_photos_score_lower(default, photo, request, tmp_path):
    image = request.getfixturevalue(photo)
    original, blurred, darkened = _p_good(
        default, [image, defocus_blur(image, 0.9), underexpose(image, 0.9)], tmp_path
    )
    assert blurred < original and darkened < original, (original, blurred, darkened)


@pytest.mark.slow
def test_score_and_explain_use_the_default_model_and_say_so(astronaut, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(encode(astronaut, "JPEG", quality=90))
    result = runner.invoke(app, ["score", str(folder), "--out", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    assert "built-in default model" in result.output
    assert pd.read_csv(tmp_path / "s.csv")["status"].tolist() == ["ok"]
    result = runner.invoke(app, ["explain", str(folder / "a.jpg")])
    assert result.exit_code == 0, result.output
    assert "built-in default model" in result.output and "verdict:" in result.output


@pytest.mark.parametrize("photo", ["astronaut", "coffee", "chelsea"])
def test_default_model_blames_a_blurred_photo_on_blur(default, photo, request, tmp_path):
    from photoqc.models.explain import top_reasons

    bundle, extractor, _ = default
    image = request.getfixturevalue(photo)
    rows = []
    for name, im in (("orig", image), ("blurred", defocus_blur(image, 1.0))):
        path = tmp_path / f"{name}.jpg"
        path.write_bytes(encode(im, "JPEG", quality=92))
        rows.append(extractor.row(InputItem(str(path), path)))
    frame = pd.DataFrame(rows)
    original, blurred = bundle.predict_good(frame)
    assert blurred < original - 0.2, (original, blurred)
    contributions, _ = bundle.contributions(frame)
    reasons = top_reasons(
        rows[1], contributions[1], bundle.feature_names, bundle.good_ranges, bundle.specs
    )
    assert reasons and reasons[0].family == "sharpness"
    assert "blur" in reasons[0].text, reasons[0].text


# --- every defect type: a small form of benchmarks/bench_defects.py ---------------------


@pytest.fixture(scope="module")
def defect_scores(default, astronaut, coffee, chelsea, tmp_path_factory):
    """p_good, verdict and first reason family of three photos (JPEG, quality 92) and of
    each defect at severities 0.5 and 1; the JPEG defect is saved at its own quality."""
    from photoqc.synthetic.defects import DEFECT_FAMILIES, DEGRADATIONS, jpeg_quality_for

    bundle, extractor, _ = default
    folder = tmp_path_factory.mktemp("defects")
    items, keys = [], []
    for name, photo in (("astronaut", astronaut), ("coffee", coffee), ("chelsea", chelsea)):
        for defect in ("original", *DEFECT_FAMILIES):
            for severity in (0.0,) if defect == "original" else (0.5, 1.0):
                pixels = photo if defect == "original" else DEGRADATIONS[defect](photo, severity)
                quality = jpeg_quality_for(severity) if defect == "jpeg" else 92
                path = folder / f"{name}_{defect}_{severity}.jpg"
                path.write_bytes(encode(pixels, "JPEG", quality=quality))
                items.append(InputItem(str(path), path))
                keys.append((name, defect, severity))
    from photoqc.assess.scorer import Scorer

    # This test is about defects: chelsea (300 px high) would be too small to publish.
    from photoqc.models.bundle import ModelBundle

    any_size = ModelBundle(
        bundle.booster,
        {**bundle.meta, "min_short_side": 0},
        bundle.path,
        bundle.readout,
        bundle.heads,
    )
    with Scorer(any_size, extractor.config) as scorer:
        return {key: judged for key, judged in zip(keys, scorer.assess(items), strict=True)}


@pytest.mark.parametrize(
    ("defect", "family"),
    [("gaussian_noise", "noise"), ("jpeg", "compression"), ("gaussian_blur", "sharpness")],
)
@pytest.mark.slow
def test_heavy_noise_blocking_and_blur_are_bad_and_named(defect_scores, defect, family):
    for name in ("astronaut", "coffee", "chelsea"):
        judged = defect_scores[(name, defect, 1.0)]
        assert defect_scores[(name, "original", 0.0)].verdict == "good"
        assert judged.verdict == "bad", (name, judged.p_good)
        assert judged.reasons and judged.reasons[0].family == family, (name, judged.reasons)


@pytest.mark.parametrize(
    "defect",
    [
        "gaussian_noise",
        "jpeg",
        "gaussian_blur",
        "underexposed",
        "overexposed",
    ],
)
def test_p_good_falls_with_the_severity_of_each_defect(defect_scores, defect):
    def median(severity, source="original"):
        return np.median(
            [
                defect_scores[(name, source, severity)].p_good
                for name in ("astronaut", "coffee", "chelsea")
            ]
        )

    original, half, full = median(0.0), median(0.5, defect), median(1.0, defect)
    assert original > half > full, (original, half, full)


@pytest.mark.xfail(
    strict=True,
    reason="known miss (issue 12): a strong warm cast is not yet told from warm good photos",
)
def test_a_strong_colour_cast_is_bad(defect_scores):
    assert all(
        defect_scores[(name, "colour_cast", 1.0)].verdict == "bad"
        for name in ("astronaut", "coffee", "chelsea")
    )


def test_more_of_a_feature_that_is_better_higher_never_lowers_p_good(default, astronaut, tmp_path):
    """The trees' monotone constraints and the defect penalty together: raising one
    directed feature alone moves p_good only the way its direction says."""
    from photoqc.features.spec import Direction

    bundle, extractor, _ = default
    path = tmp_path / "a.jpg"
    path.write_bytes(encode(astronaut, "JPEG", quality=92))
    row = extractor.row(InputItem(str(path), path))
    checked = 0
    for name in bundle.feature_names:
        direction = bundle.specs[name].direction if name in bundle.specs else None
        if direction not in (Direction.HIGHER_BETTER, Direction.HIGHER_WORSE):
            continue
        low, high = bundle.good_ranges[name].low, bundle.good_ranges[name].high
        span = (high - low) or 1.0
        grid = np.linspace(low - 3 * span, high + 3 * span, 25)
        frame = pd.DataFrame([{**row, name: v} for v in grid])
        p = bundle.predict_good(frame)
        steps = np.diff(p) * direction.monotone
        assert (steps >= -1e-12).all(), (name, p)
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize(
    ("kind", "family"),
    [
        ("white_noise", "noise"),
        ("jpeg", "compression"),
        ("impulse_noise", "noise"),
        ("quantisation", "colour"),
    ],
)
@pytest.mark.parametrize("photo", ["astronaut", "coffee"])
def test_kadid_level_5_defects_are_bad_and_named(default, photo, request, kind, family):
    from photoqc.synthetic.kadid import distort

    if (photo, kind) == ("coffee", "quantisation"):
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="known miss (issue 33, 2026-12-03): p_good 0.50 at threshold 0.47. The "
                "tone-levels penalty is linear from the good photos' 1.0, and the copies' "
                "fidelity says levels 1-3 (reading 0.23-0.12) keep most of their worth, so "
                "level 5 (0.05) is pushed down only as far as they allow",
            )
        )
    _, scored, _ = default
    original = request.getfixturevalue(photo)
    # PNG: only the distortion shows (a JPEG at level 5 is its own encoding).
    body = encode(distort(original, kind, 5), "PNG")
    (assessment,) = scored.scorer.assess([InputItem(photo, body)])
    assert assessment.verdict == "bad", assessment.p_good
    assert assessment.reasons and assessment.reasons[0].family == family, assessment.reasons


@pytest.mark.parametrize(("kind", "family"), [("white_noise", "noise"), ("jpeg", "compression")])
@pytest.mark.parametrize("photo", ["astronaut", "coffee"])
def test_level_4_noise_and_jpeg_are_bad_for_what_they_are_and_the_clean_photo_good(
    default, photo, request, kind, family
):
    """Issue 33's check: one level below the worst, the verdict still falls, and its first
    reason names the damage (a hand-made measure or the defect head's learned family)."""
    from photoqc.synthetic.kadid import distort

    _, scored, _ = default
    original = request.getfixturevalue(photo)
    scorer = scored.scorer
    clean, damaged = scorer.assess(
        [InputItem("clean", encode(original, "PNG")),
         InputItem(kind, encode(distort(original, kind, 4), "PNG"))]
    )  # fmt: skip
    assert clean.verdict == "good", (clean.p_good, clean.reasons[:2])
    assert damaged.verdict == "bad", damaged.p_good
    assert damaged.reasons[0].family == family, damaged.reasons[:3]
