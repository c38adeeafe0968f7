"""LightGBM settings for a few hundred to a few thousand labelled photos: the parameters,
the most rounds and the patience of the inner cross-validation (read by training's
configuration without importing the estimator, and so scikit-learn)."""

from __future__ import annotations

import numpy as np

DEFAULT_PARAMS: dict[str, object] = {
    "learning_rate": 0.03,
    "num_leaves": 4,
    "extra_trees": True,
    "feature_fraction": 0.3,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 5.0,
    "verbosity": -1,
    "deterministic": True,
    "force_row_wise": True,
}
"""LightGBM settings for a few hundred to a few thousand labelled photos.

Many small (4-leaf), randomised (``extra_trees``) trees, each seeing 30 % of the features,
with L2 shrinkage: with ~150 features and a few hundred photos, deeper greedy trees fit
the noise of single features. On clive-dev these settings raised cross-validated ROC-AUC
from 0.80 to 0.82 on the same features (``benchmarks/bench_accuracy.py``).
``min_data_in_leaf`` is set from the training size unless given: one in 20 photos, between
3 and 20, so a defect seen in only a handful of photos can still get its own leaf."""

MAX_ROUNDS = 2000
"""The most boosting rounds the inner cross-validation tries (:meth:`select_rounds`)."""

PATIENCE = 200
"""Rounds without improvement of the cross-validated loss before it stops: with a learning
rate of 0.03 and randomised trees the loss is noisy, and a short patience stops early."""


def min_data_in_leaf(n_rows: int) -> int:
    """Smallest leaf for ``n_rows`` training photos: n / 20, kept within 3..20."""
    return int(np.clip(n_rows // 20, 3, 20))
