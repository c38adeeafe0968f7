"""Training with the network heads end to end: the impression and defect heads fitted from
NIMA's multi-level stats, kept as arrays under the folder's signature, the verdict started
from their base margin, and the scorer making the same learned features from one pass."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from photoqc.assess.recipe import RecipeOptions
from photoqc.assess.scorer import Scorer
from photoqc.features.nima import DEFECT_FEATURES, IMPRESSION_FEATURE, LEARNED_FEATURES
from photoqc.models.bundle import BundleError, load_bundle
from photoqc.models.heads import HEADS_FILE

pytestmark = pytest.mark.slow  # trains a model


TRAIN = """
import sys
from pathlib import Path

from photoqc.assess.recipe import ExtractConfig, RecipeOptions
from photoqc.pipelines.demo import DemoConfig, make_dataset
from photoqc.pipelines.training.augment import AugmentConfig
from photoqc.pipelines.training.cache import FeatureCache
from photoqc.pipelines.training.labels import read_labels
from photoqc.pipelines.training.train import TrainConfig, train

folder = Path(sys.argv[1])
train_csv, _, _ = make_dataset(folder, DemoConfig(crops_per_photo=1))
config, _ = ExtractConfig.resolve(RecipeOptions(segmenter="none", offline=True))
outcome = train(
    read_labels(train_csv),
    config,
    folder / "model",
    TrainConfig(
        folds=3, heads=True, min_short_side=0, augment=AugmentConfig(copies=2, kind="mixed")
    ),
    cache=FeatureCache(folder / "cache"),
)
outcome.X.to_parquet(folder / "learned_from.parquet")
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained with heads, in a process of its own: the stats of every photo and
    copy would otherwise stay in the test process's heap (its peak RSS is held <= 3 GB)."""
    folder = tmp_path_factory.mktemp("heads")
    done = subprocess.run(
        [sys.executable, "-c", TRAIN, str(folder)], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return pd.read_parquet(folder / "learned_from.parquet"), folder


def test_the_model_learns_from_the_heads_and_keeps_them_as_signed_data(trained):
    learned_from, folder = trained
    model = folder / "model"
    meta = json.loads((model / "photoqc.json").read_text())
    assert set(LEARNED_FEATURES) <= set(meta["feature_names"])
    assert (model / HEADS_FILE).is_file() and meta["heads_sha256"]
    margin = meta["base_margin"]
    weights = dict(zip(margin["features"], margin["weights"], strict=True))
    assert weights[IMPRESSION_FEATURE] > 0  # a better impression raises p_good
    assert all(weights[f] <= 0 for f in DEFECT_FEATURES.values())  # damage never does
    assert any(weights[f] < 0 for f in DEFECT_FEATURES.values())
    # What the classifier learnt from: learned features out of fold, for every photo.
    assert learned_from[list(LEARNED_FEATURES)].notna().all().all()
    bundle = load_bundle(model)
    assert bundle.heads is not None and sorted(bundle.heads.models) == ["aesthetic", "technical"]


def test_a_tampered_heads_file_is_refused(trained, tmp_path):
    import shutil

    _, folder = trained
    copy = tmp_path / "model"
    shutil.copytree(folder / "model", copy)
    data = bytearray((copy / HEADS_FILE).read_bytes())
    data[-5] ^= 0xFF
    (copy / HEADS_FILE).write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256 mismatch"):
        load_bundle(copy)


def test_the_scorer_makes_the_learned_features_from_the_same_pass(trained, astronaut):
    from conftest import encode

    from photoqc.synthetic.kadid import distort

    _, folder = trained
    scorer, _ = Scorer.from_model(folder / "model", RecipeOptions(offline=True))
    with scorer:
        clean, noisy = scorer.assess(
            [encode(astronaut), encode(distort(astronaut, "white_noise", 5))]
        )
    for assessment in (clean, noisy):
        values = [assessment.row[f] for f in LEARNED_FEATURES]
        assert all(np.isfinite(values)), values
    # The defect head sees the noise the copies taught it.
    assert noisy.row["learned_noise"] > clean.row["learned_noise"] + 0.05
    total = lambda a: sum(a.row[f] for f in DEFECT_FEATURES.values())  # noqa: E731
    assert total(noisy) > total(clean)
    row = scorer.csv_row(noisy)
    assert all(f in row for f in LEARNED_FEATURES)
