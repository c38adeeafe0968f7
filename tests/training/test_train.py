"""`photoqc train` and `photoqc explain` from the command line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from photoqc.cli import app
from photoqc.pipelines.training.train import best_f1_threshold

runner = CliRunner()


@pytest.fixture
def demo_labels(demo_run):
    return demo_run.model_dir.parent / "labels.csv"


@pytest.mark.slow
def test_train_cross_validates_saves_a_bundle_and_reuses_cached_features(demo_labels, tmp_path):
    args = [
        "train",
        str(demo_labels),
        "--out",
        str(tmp_path / "m"),
        "-s",
        "none",
        "--folds",
        "3",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "0 features from cache" in first.output
    for metric in ("roc_auc", "pr_auc", "log_loss", "accuracy"):
        assert metric in first.output
    meta = json.loads((tmp_path / "m" / "photoqc.json").read_text())
    assert meta["cv_metrics"]["roc_auc_mean"] > 0.75
    assert meta["training"]["objective"] == "binary"
    second = runner.invoke(app, [*args[:3], str(tmp_path / "m2"), *args[4:]])
    assert second.exit_code == 0, second.output
    n = len(pd.read_csv(demo_labels))
    assert f"{n} features from cache" in second.output
    again = json.loads((tmp_path / "m2" / "photoqc.json").read_text())
    assert again["cv_metrics"] == meta["cv_metrics"]  # same features, same seed, same result


@pytest.mark.slow
def test_votes_train_on_soft_targets(demo_labels, tmp_path):
    table = pd.read_csv(demo_labels)
    good = table["label"] == "good"
    table["votes_total"] = 5
    table["votes_good"] = np.where(good, 4, 1)
    votes = tmp_path / "votes.csv"
    table.drop(columns=["label"]).assign(
        image=[str(demo_labels.parent / p) for p in table["image"]]
    ).to_csv(votes, index=False)
    result = runner.invoke(
        app,
        [
            "train",
            str(votes),
            "--out",
            str(tmp_path / "m"),
            "-s",
            "none",
            "--folds",
            "3",
            "--no-cache",
        ],
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "m" / "photoqc.json").read_text())
    assert (
        meta["training"]["objective"] == "cross_entropy" and meta["training"]["labels"] == "votes"
    )


def test_malformed_labels_stop_before_any_work(tmp_path):
    bad = tmp_path / "l.csv"
    bad.write_text("image,label\nnope.jpg,good\n")
    result = runner.invoke(app, ["train", str(bad), "--out", str(tmp_path / "m")])
    assert result.exit_code == 1 and "line 2: file not found" in result.output
    assert not (tmp_path / "m").exists()


def test_threshold_maximises_f1():
    truth = np.array([0, 0, 0, 1, 1, 1, 0, 1], bool)
    p = np.array([0.1, 0.2, 0.35, 0.4, 0.6, 0.7, 0.65, 0.9])
    threshold = best_f1_threshold(truth, p)

    def f1(t):
        pred = p >= t
        tp = (pred & truth).sum()
        return 2 * tp / (pred.sum() + truth.sum())

    assert f1(threshold) == max(f1(t) for t in p)
    assert threshold == pytest.approx(0.4)


def test_explain_prints_verdict_reasons_and_saves_a_waterfall(demo_run, tmp_path):
    photo = demo_run.model_dir.parent / "images" / "coffee_0_underexposed_095.jpg"
    png = tmp_path / "w.png"
    result = runner.invoke(
        app, ["explain", str(photo), "--model", str(demo_run.model_dir), "--waterfall", str(png)]
    )
    assert result.exit_code == 0, result.output
    assert "verdict: bad" in result.output
    assert "why not good:" in result.output and "1. " in result.output
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_waterfall_says_what_features_measure_and_which_way_they_push(demo_run, tmp_path):
    from photoqc.assess.recipe import RecipeOptions
    from photoqc.assess.scorer import Scorer
    from photoqc.models.bundle import load_bundle
    from photoqc.pipelines.review.explain import explain_image, write_waterfall

    scorer, _ = Scorer.from_model(demo_run.model_dir, RecipeOptions(offline=True))
    photo = demo_run.model_dir.parent / "images" / "coffee_0_defocus_blur_095.jpg"
    said = write_waterfall(explain_image(photo, scorer), tmp_path / "w.png")
    *labels, axis = said
    assert "pushes towards bad" in axis and "pushes towards good" in axis
    names = load_bundle(demo_run.model_dir).feature_names
    for label in labels:
        family, _, rest = label.partition(": ")
        assert family and rest and rest.split(" = ")[0] not in names, label


def test_explain_of_a_broken_file_is_a_clear_error(demo_run, tmp_path):
    broken = tmp_path / "b.jpg"
    broken.write_bytes(b"zzz")
    result = runner.invoke(app, ["explain", str(broken), "--model", str(demo_run.model_dir)])
    assert result.exit_code == 1 and "not a recognised image format" in result.output


@pytest.mark.slow
def test_round_selection_stops_early_on_noise_and_goes_on_with_signal():
    from photoqc.models.classifier import GoodBadClassifier

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(240, 6)), columns=[f"f{i}" for i in range(6)])
    signal = (X["f0"] + 0.5 * X["f1"] + 0.3 * rng.normal(size=240) > 0).to_numpy(float)
    noise = rng.permutation(signal)
    model = GoodBadClassifier(n_estimators=1500, early_stopping_rounds=100, random_state=0)
    with_signal = model.select_rounds(X, signal, signal.astype(bool))
    on_noise = model.select_rounds(X, noise, noise.astype(bool))
    assert 1 <= on_noise < with_signal <= round(1500 * 4 / 3)
    assert with_signal > 300  # a learnable target keeps improving at learning rate 0.03
