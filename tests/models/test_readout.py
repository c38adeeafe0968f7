"""The learned impression: a ridge from NIMA's embeddings to the training target, used out
of fold in training, kept in the model folder as data, applied from the same NIMA pass."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import encode
from scipy.stats import pearsonr

from photoqc.features.nima import READOUT_FEATURE
from photoqc.models.readout import READOUT_FILE, EmbeddingReadout, out_of_fold


def test_out_of_fold_values_do_not_leak_the_target():
    """On embeddings of pure noise, a read-out fitted to the photos it predicts finds the
    target anyway; out of fold it finds nothing: only those values may train the trees."""
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(120, 400))
    target = rng.random(120)
    in_fold = EmbeddingReadout.fit(embeddings, target, ("a",)).predict(embeddings)
    honest = out_of_fold(embeddings, target, target >= 0.5, ("a",), folds=5, seed=0)
    assert pearsonr(in_fold, target)[0] > 0.5  # leaks: it has seen these targets
    assert abs(pearsonr(honest, target)[0]) < 0.3  # does not


def test_a_readout_learns_a_real_signal_and_round_trips_as_data():
    rng = np.random.default_rng(1)
    embeddings = rng.normal(size=(200, 50))
    target = embeddings[:, :3].sum(axis=1) * 0.1 + 0.5 + rng.normal(0, 0.02, 200)
    honest = out_of_fold(embeddings, target, target >= 0.5, ("a",))
    assert pearsonr(honest, target)[0] > 0.9
    readout = EmbeddingReadout.fit(embeddings, target, ("a",))
    again = EmbeddingReadout.from_bytes(readout.to_bytes())
    np.testing.assert_array_equal(again.predict(embeddings), readout.predict(embeddings))
    missing = embeddings.copy()
    missing[0, 3] = np.nan
    assert np.isnan(readout.predict(missing)[0]) and np.isfinite(readout.predict(missing)[1])


@pytest.mark.parametrize(
    "edit",
    [
        lambda r: {**r, "coef": r["coef"][:-1]},
        lambda r: {**r, "scale": [0.0] * len(r["scale"])},
        lambda r: {**r, "format": "pickle"},
        lambda r: {**r, "models": []},
    ],
    ids=["short", "zero-scale", "format", "models"],
)
def test_a_malformed_readout_is_refused(edit):
    from photoqc.models.readout import ReadoutError

    rng = np.random.default_rng(2)
    readout = EmbeddingReadout.fit(rng.normal(size=(40, 8)), rng.random(40), ("a",))
    record = json.loads(readout.to_bytes())
    with pytest.raises(ReadoutError):
        EmbeddingReadout.from_bytes(json.dumps(edit(record)).encode())


def test_a_trained_model_keeps_its_readout_signed_and_scoring_applies_it(demo_run, tmp_path):
    from photoqc.assess.recipe import RecipeOptions
    from photoqc.assess.scorer import Scorer
    from photoqc.models.bundle import BundleError, load_bundle, write_meta

    bundle = load_bundle(demo_run.model_dir)
    assert bundle.readout is not None and READOUT_FEATURE in bundle.feature_names
    assert bundle.specs[READOUT_FEATURE].family == "overall impression"
    scores = pd.read_csv(demo_run.scores_csv)
    assert scores.loc[scores["status"] == "ok", READOUT_FEATURE].notna().all()
    # Applied from the same NIMA pass as the scores: the same value for the same photo.
    scorer, _ = Scorer.from_model(demo_run.model_dir, RecipeOptions(offline=True))
    row = scores[scores["status"] == "ok"].iloc[0]
    (again,) = scorer.assess([demo_run.model_dir.parent / row["image"]])
    assert again.row[READOUT_FEATURE] == pytest.approx(row[READOUT_FEATURE], abs=1e-9)
    # The file is covered by the folder's signature; a changed one is refused.
    model = tmp_path / "m"
    shutil.copytree(demo_run.model_dir, model)
    record = json.loads((model / READOUT_FILE).read_text())
    record["intercept"] += 1.0
    (model / READOUT_FILE).write_text(json.dumps(record))
    with pytest.raises(BundleError, match="sha256 mismatch"):
        load_bundle(model)
    meta = json.loads((model / "photoqc.json").read_text())
    (model / READOUT_FILE).write_text('{"format": "photoqc-embedding-readout", "models": [1]}')
    meta["embedding_readout_sha256"] = hashlib.sha256(
        (model / READOUT_FILE).read_bytes()
    ).hexdigest()
    write_meta(model, meta)
    with pytest.raises(BundleError, match="models must be a list"):
        load_bundle(model)


def test_without_nima_there_is_no_readout(tmp_path, astronaut, chelsea, coffee):
    from typer.testing import CliRunner

    from photoqc.cli import app
    from photoqc.models.bundle import load_bundle

    rows = []
    for k, photo in enumerate([astronaut, chelsea, coffee] * 8):
        path = tmp_path / f"p{k}.png"
        path.write_bytes(encode(photo[:: 1 + k % 3, :: 1 + k % 3]))
        rows.append({"image": path.name, "label": "good" if k % 2 else "bad"})
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    result = CliRunner().invoke(
        app,
        ["train", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "m"), "--no-nima",
         "-s", "none", "--folds", "2", "--no-cache"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    bundle = load_bundle(tmp_path / "m")
    assert bundle.readout is None and READOUT_FEATURE not in bundle.feature_names
    assert not (tmp_path / "m" / READOUT_FILE).exists()
