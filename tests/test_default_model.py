"""The model that ships with photoqc: loads offline, scores photos, and ranks defects lower."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import encode
from typer.testing import CliRunner

from photoqc.cli import app
from photoqc.degradations import defocus_blur, underexpose
from photoqc.models.bundle import default_model_dir, load_bundle
from photoqc.pipelines.extract import FeatureExtractor
from photoqc.pipelines.inputs import InputItem
from photoqc.pipelines.recipe import ExtractConfig, RecipeOptions

runner = CliRunner()


@pytest.fixture(scope="module")
def default():
    bundle = load_bundle(default_model_dir())
    config, warnings = ExtractConfig.from_record(bundle.recipe, RecipeOptions(offline=True))
    return bundle, FeatureExtractor(config), warnings


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


def test_default_model_needs_nothing_from_the_network_or_nima(default):
    bundle, _, warnings = default
    assert bundle.recipe["segmenter"]["kind"] == "grabcut" and not warnings
    assert not any(name.startswith("nima_") for name in bundle.feature_names)
    assert bundle.meta["training"]["images"] == 300
    assert bundle.meta["cv_metrics"]["roc_auc_oof"] > 0.8


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
    assert reasons and reasons[0].family in ("sharpness", "texture", "detail")
    assert "blur" in reasons[0].text, reasons[0].text
