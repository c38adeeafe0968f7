"""What a new user hits first: thumbnails, tuning on training photos, MOS labels given
once, words instead of column names, URLs, and more workers than cores."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import encode
from PIL import Image
from typer.testing import CliRunner

from photoqc.assess.recipe import RecipeOptions
from photoqc.assess.scorer import Scorer
from photoqc.cli import app
from photoqc.models.bundle import DEFAULT_MIN_SHORT_SIDE, default_model_dir, load_bundle

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "threshold_tuning.ipynb"

runner = CliRunner()


@pytest.fixture(scope="module")
def default_scorer() -> Scorer:
    scorer, _ = Scorer.from_model(default_model_dir(), RecipeOptions(offline=True))
    return scorer


# --- too small to publish ------------------------------------------------------------------


def test_a_thumbnail_of_a_good_photo_is_too_small_to_publish(default_scorer, coffee):
    (full,) = default_scorer.assess([encode(coffee, "JPEG", quality=92)])
    assert full.verdict == "good"
    # Aspect kept: the classifier alone still calls it good (a squashed 80 x 80 one it
    # calls bad on its own, from the blur of its upscaled thumbnail).
    thumbnail = cv2.resize(coffee, (300, 200), interpolation=cv2.INTER_AREA)
    (small,) = default_scorer.assess([encode(thumbnail, "JPEG", quality=92)])
    assert small.p_good >= default_scorer.bundle.threshold
    assert small.verdict == "bad"
    # The size rule is a line of its own, after any visible defect (never in its place).
    assert small.reasons[-1].text == (
        "too small to publish: 300 x 200 px (at least 400 px on the short side)"
    )
    assert small.reasons[-1].family == "resolution"
    assert all(r.family != "resolution" for r in small.reasons[:-1])
    row = default_scorer.csv_row(small)
    assert row["verdict"] == "bad" and row["reasons"].endswith(
        "too small to publish: 300 x 200 px (at least 400 px on the short side)"
    )
    assert json.loads(row["reasons_json"])[-1]["value"] == 200.0


def test_a_dark_photo_under_the_size_limit_says_dark_first_then_its_size(default_scorer, coffee):
    """Found in the Getting started trial: a dark 512 x 341 photo read only 'too small to
    publish' (its p_good, 0.58, would have passed); the darkness is what a moderator sees."""
    dark = (coffee.astype(float) * 0.15).astype(np.uint8)
    small = cv2.resize(dark, (450, 300), interpolation=cv2.INTER_AREA)
    (judged,) = default_scorer.assess([encode(small, "JPEG", quality=92)])
    assert judged.verdict == "bad"
    texts = [r.text for r in judged.reasons]
    assert texts[-1].startswith("too small to publish: 450 x 300 px")
    assert len(texts) >= 2, texts
    first = judged.reasons[0]
    assert first.family in ("exposure", "highlights", "contrast"), (first.family, texts)
    assert "dark" in first.text or "black" in first.text, texts


def test_the_minimum_size_is_a_model_setting_that_tune_changes(demo_run, tmp_path, astronaut):
    model = tmp_path / "m"
    shutil.copytree(demo_run.model_dir, model)
    # The demo publishes down to the smallest photo it made (scikit-image's are small).
    smallest = min(
        min(Image.open(p).size) for p in (demo_run.model_dir.parent / "images").glob("*.jpg")
    )
    assert 160 < smallest < 400
    assert json.loads((model / "photoqc.json").read_text())["min_short_side"] == smallest
    result = runner.invoke(
        app,
        ["tune", str(demo_run.scores_csv), "--labels", str(tmp_path / "none.csv"),
         "--model", str(model), "--min-short-side", "600", "--write"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output  # --labels must exist
    labels = demo_run.model_dir.parent / "holdout.csv"
    result = runner.invoke(
        app,
        ["tune", str(demo_run.scores_csv), "--labels", str(labels), "--model", str(model),
         "--min-short-side", "600", "--write"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    bundle = load_bundle(model)  # still signed: the change was made by photoqc
    assert (
        bundle.min_short_side == 600
        and bundle.threshold == load_bundle(demo_run.model_dir).threshold
    )
    scorer, _ = Scorer.from_model(model, RecipeOptions(offline=True))
    (judged,) = scorer.assess([encode(astronaut)])
    assert judged.verdict == "bad" and "at least 600 px" in judged.reasons[-1].text


def test_models_without_the_setting_use_the_default(default_scorer):
    assert default_scorer.bundle.min_short_side == DEFAULT_MIN_SHORT_SIDE == 400


# --- tuning never silently uses training photos --------------------------------------------


@pytest.fixture(scope="module")
def training_scores(demo_run, tmp_path_factory):
    """The demo model's scores of (some of) its own training photos."""
    folder = tmp_path_factory.mktemp("trained")
    labels = pd.read_csv(demo_run.model_dir.parent / "labels.csv")
    part = labels.groupby("label").head(6)
    root = demo_run.model_dir.parent
    part.assign(image=[str(root / p) for p in part["image"]]).to_csv(
        folder / "labels.csv", index=False
    )
    out = folder / "scores.csv"
    result = runner.invoke(
        app,
        ["score", str(folder / "labels.csv"), "--model", str(demo_run.model_dir), "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    return out, folder / "labels.csv"


def test_tune_warns_loudly_on_the_model_s_own_training_photos(demo_run, training_scores):
    scores, labels = training_scores
    result = runner.invoke(
        app,
        ["tune", str(scores), "--labels", str(labels), "--model", str(demo_run.model_dir),
         "--target-precision", "0.9"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "WARNING: 12 of the 12 labelled photos" in result.output
    assert "cv_predictions.csv" in result.output


def test_tune_takes_the_model_s_out_of_fold_predictions_without_a_warning(demo_run):
    oof = demo_run.model_dir / "cv_predictions.csv"
    labels = demo_run.model_dir.parent / "labels.csv"
    result = runner.invoke(
        app,
        ["tune", str(oof), "--labels", str(labels), "--model", str(demo_run.model_dir),
         "--cost-accept-bad", "3", "--cost-reject-good", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.output
    assert f"{len(pd.read_csv(oof))} labelled photos" in result.output


def test_the_notebook_warns_too_and_writes_only_when_asked(demo_run, training_scores, tmp_path):
    papermill = pytest.importorskip("papermill", reason="papermill not installed")

    scores, labels = training_scores
    model = tmp_path / "m"
    shutil.copytree(demo_run.model_dir, model)
    before = (model / "photoqc.json").read_text()
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "out.ipynb"),
        parameters={"scores_csv": str(scores), "labels_csv": str(labels), "model_dir": str(model)},
        kernel_name="python3",
        progress_bar=False,
    )
    assert (model / "photoqc.json").read_text() == before  # write defaults to False
    printed = json.dumps(json.loads((tmp_path / "out.ipynb").read_text())["cells"])
    assert "WARNING: 12 of the 12 labelled photos" in printed


# --- MOS labels once -----------------------------------------------------------------------


def test_mos_labels_give_their_threshold_once_and_tune_reads_it(demo_run, tmp_path):
    root = demo_run.model_dir.parent
    labels = pd.read_csv(root / "labels.csv")
    mos = labels.assign(
        image=[str(root / p) for p in labels["image"]],
        mos=[72.0 if label == "good" else 28.0 for label in labels["label"]],
    ).drop(columns=["label"])
    mos.to_csv(tmp_path / "mos.csv", index=False)
    model = tmp_path / "model"
    result = runner.invoke(
        app,
        ["train", str(tmp_path / "mos.csv"), "--out", str(model), "--mos-threshold", "50",
         "--segmenter", "none", "--no-nima", "--folds", "3", "--no-cache"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert load_bundle(model).mos_threshold == 50.0
    tuned = runner.invoke(
        app,
        ["tune", str(model / "cv_predictions.csv"), "--labels", str(tmp_path / "mos.csv"),
         "--model", str(model), "--target-precision", "0.9"],
    )  # fmt: skip
    assert tuned.exit_code == 0, tuned.output  # no --mos-threshold: the model's
    papermill = pytest.importorskip("papermill", reason="papermill not installed")

    other = tmp_path / "other.csv"
    shutil.copy(tmp_path / "mos.csv", other)
    plain = demo_run.model_dir  # trained on good/bad labels: no MOS threshold to read
    with pytest.raises(papermill.PapermillExecutionError, match=r"-p mos_threshold"):
        papermill.execute_notebook(
            str(NOTEBOOK),
            str(tmp_path / "out.ipynb"),
            parameters={
                "scores_csv": str(model / "cv_predictions.csv"),
                "labels_csv": str(other),
                "model_dir": str(plain),
            },
            kernel_name="python3",
            progress_bar=False,
        )


# --- words, URLs, workers ------------------------------------------------------------------


def test_explain_says_features_in_words_and_leaves_out_what_was_not_measured(demo_run, tmp_path):
    photo = sorted((demo_run.model_dir.parent / "images").glob("coffee_*"))[0]
    chart = tmp_path / "why.png"
    result = runner.invoke(
        app, ["explain", str(photo), "--model", str(demo_run.model_dir), "--waterfall", str(chart)]
    )
    assert result.exit_code == 0, result.output
    assert not re.search(r"MSCN|Laplacian|\bluma\b|3x3|\bnan\b", result.output, re.IGNORECASE)
    from photoqc.pipelines.review.explain import explain_image, write_waterfall

    scorer, _ = Scorer.from_model(demo_run.model_dir, RecipeOptions(offline=True))
    explained = explain_image(photo, scorer)
    names = {p.spec.name for p in explained.pushes}
    # The demo model scores without a segmenter: no object, so no object feature is said.
    assert not any(n.startswith("object_") and n != "object_found" for n in names)
    labels = write_waterfall(explained, tmp_path / "again.png")
    assert not [label for label in labels if "nan" in label.split()]
    assert any("(good photos: ~" in label for label in labels)


def test_an_image_url_is_refused_in_words(tmp_path, astronaut):
    (tmp_path / "a.png").write_bytes(encode(astronaut))
    listing = tmp_path / "listing.csv"
    listing.write_text("image\na.png\nhttps://example.com/photo.jpg\n")
    out = tmp_path / "f.csv"
    result = runner.invoke(
        app, ["features", str(listing), "-o", str(out), "-s", "none", "--no-nima"]
    )
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out)
    url = rows[rows["image"] == "https://example.com/photo.jpg"].iloc[0]
    assert url["status"] == "error"
    assert url["error"] == "URLs are not supported: download the files first"
    direct = runner.invoke(app, ["features", "https://example.com/a.jpg", "-o", str(out)])
    assert (
        direct.exit_code == 1
        and "URLs are not supported: download the files first" in direct.output
    )


def test_more_workers_than_cores_are_capped_and_said(tmp_path, astronaut, monkeypatch):
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(encode(astronaut))
    result = runner.invoke(
        app,
        ["features", str(tmp_path / "in"), "-o", str(tmp_path / "f.csv"), "-s", "none",
         "--no-nima", "--workers", "64"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.count("--workers 64 is more than this machine's 2 cores: using 2") == 1
