"""The good/bad classifier: a thin, scikit-learn-style estimator around LightGBM.

Hard labels train with LightGBM's ``binary`` objective; soft targets (share of raters who
said good, or a sigmoid of the MOS) with ``cross_entropy``, which takes labels in [0, 1].
Both predict the log-odds of "good" (:meth:`GoodBadClassifier.raw_score`), its
probability (:meth:`~GoodBadClassifier.predict_good`) and each feature's exact push on it
(:meth:`~GoodBadClassifier.contributions`, TreeSHAP plus the defect penalty's terms). A
model folder's scoring is this class's (:meth:`GoodBadClassifier.from_booster`), so there
is one scoring path. NaN features (no object found, NIMA off) are LightGBM's native
missing values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin

from photoqc.models.margin import BaseMargin
from photoqc.models.penalty import DefectPenalty

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


class GoodBadClassifier(ClassifierMixin, BaseEstimator):
    """LightGBM classifier of "good" photos (scikit-learn's estimator conventions: settings
    in the constructor, fitted attributes end in ``_``).

    Parameters
    ----------
    soft : bool
        Targets are probabilities (cross-entropy objective) rather than 0/1 (binary).
    n_estimators : int
        Boosting rounds of :meth:`fit`; the most :meth:`select_rounds` tries.
    early_stopping_rounds : int
        :meth:`select_rounds` stops when the cross-validated loss has not improved for
        this many rounds.
    random_state : int
        Seed for bagging and feature sampling.
    params : dict, optional
        Overrides of :data:`DEFAULT_PARAMS`.
    monotone : sequence of int, optional
        Per feature (in the columns' order): 1 when a higher value may only raise p_good,
        -1 when it may only lower it, 0 when either (LightGBM's ``monotone_constraints``,
        from the features' directions). None: unconstrained.

    Attributes
    ----------
    booster_ : lightgbm.Booster
    best_iteration_ : int
        Rounds used when predicting.
    feature_names_in_ : list of str
        The columns the model reads, in its order.
    penalty_ : DefectPenalty or None
        Hinge penalties on defect features, fitted after the trees (by training).
    base_ : BaseMargin or None
        Where the log-odds start before the trees (the network heads' features), set by
        training before :meth:`fit`, whose trees are boosted from it.
    classes_ : ndarray
        ``[0, 1]``: bad, good.
    """

    def __init__(
        self,
        *,
        soft: bool = False,
        n_estimators: int = MAX_ROUNDS,
        early_stopping_rounds: int = PATIENCE,
        random_state: int = 0,
        params: dict[str, object] | None = None,
        monotone: Sequence[int] | None = None,
    ):
        self.soft = soft
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.params = params
        self.monotone = monotone

    base_: BaseMargin | None = None

    @classmethod
    def from_booster(
        cls,
        booster,
        feature_names: Sequence[str],
        penalty: DefectPenalty | None = None,
        *,
        soft: bool = False,
        base: BaseMargin | None = None,
    ) -> GoodBadClassifier:
        """A fitted classifier around a trained booster (as a model folder holds it)."""
        model = cls(soft=soft)
        model._fitted(booster, list(feature_names))
        model.penalty_ = penalty
        model.base_ = base
        return model

    def base_score(self, X: pd.DataFrame) -> np.ndarray | None:
        """The base margin of each row (log-odds), or None without one."""
        return self.base_.raw(X) if self.base_ is not None else None

    def _fitted(self, booster, feature_names: list[str]) -> None:
        self.booster_ = booster
        self.best_iteration_ = booster.current_iteration()
        self.feature_names_in_ = feature_names
        self.n_features_in_ = len(feature_names)
        self.classes_ = np.array([0, 1])

    @property
    def objective(self) -> str:
        return "cross_entropy" if self.soft else "binary"

    def lgb_params(self, n_rows: int = 300) -> dict[str, object]:
        params = {
            **DEFAULT_PARAMS,
            "min_data_in_leaf": min_data_in_leaf(n_rows),
            **(self.params or {}),
            "objective": self.objective,
            "metric": "cross_entropy" if self.soft else "binary_logloss",
            "seed": self.random_state,
        }
        if self.monotone is not None and any(self.monotone):
            params["monotone_constraints"] = list(self.monotone)
            params["monotone_constraints_method"] = "intermediate"
        return params

    def fit(
        self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> GoodBadClassifier:
        """Fit ``n_estimators`` rounds on features ``X`` (named columns) and targets ``y``
        in [0, 1], each row counting ``sample_weight`` (default 1; see
        :meth:`select_rounds` for choosing the count), boosted from :attr:`base_` when
        it is set."""
        from photoqc.compat import lightgbm

        lgb = lightgbm()

        y = np.asarray(y, dtype=np.float64)
        if not self.soft and not np.isin(y, (0.0, 1.0)).all():
            raise ValueError("hard labels must be 0 or 1; use soft=True for probabilities")
        booster = lgb.train(
            self.lgb_params(len(y)),
            lgb.Dataset(
                X,
                label=y,
                weight=sample_weight,
                init_score=self.base_score(X),
                free_raw_data=False,
            ),
            num_boost_round=self.n_estimators,
        )
        self._fitted(booster, list(X.columns))
        self.penalty_ = None
        return self

    def select_rounds(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        strata: np.ndarray,
        *,
        folds: int = 4,
        groups: np.ndarray | None = None,
        weight: np.ndarray | None = None,
    ) -> int:
        """Boosting rounds that minimise the cross-validated loss on ``X``, ``y``.

        Stratified ``folds``-fold CV on ``strata`` (e.g. good/bad) with early stopping after
        ``early_stopping_rounds`` rounds without improvement, at most ``n_estimators``;
        rows sharing a ``groups`` value (a photo and its degraded copies) stay in one fold.
        Every photo both trains and validates, which on a few hundred photos gives a far
        steadier count than one held-out slice. The best count is scaled by
        ``folds / (folds - 1)``: the model fitted afterwards sees that many times more
        photos than each inner fold did, and more data supports more rounds (on clive-dev
        ROC-AUC 0.857 -> 0.859 without NIMA, 0.886 -> 0.888 with).
        """
        from photoqc.compat import lightgbm

        lgb = lightgbm()
        from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

        if groups is None:
            splitter = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        else:
            splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=self.random_state)
        splits = splitter.split(X, strata, groups)
        history = lgb.cv(
            self.lgb_params(len(y) * (folds - 1) // folds),
            lgb.Dataset(
                X,
                label=np.asarray(y, dtype=np.float64),
                weight=weight,
                init_score=self.base_score(X),
                free_raw_data=False,
            ),
            num_boost_round=self.n_estimators,
            folds=list(splits),
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        best = len(next(iter(history.values())))
        return max(1, round(best * folds / (folds - 1)))

    def matrix(self, X: pd.DataFrame) -> pd.DataFrame:
        """The model's columns of ``X``, in its order, as floats.

        Raises
        ------
        KeyError
            A column the model needs is missing (naming up to five).
        """
        missing = [n for n in self.feature_names_in_ if n not in X.columns]
        if missing:
            raise KeyError(f"features missing for this model: {', '.join(missing[:5])}")
        return X[self.feature_names_in_].astype(np.float64)

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of "good" per row (any base margin, the trees, any defect penalty)."""
        X = self.matrix(X)
        score = self.booster_.predict(X, raw_score=True, num_iteration=self.best_iteration_)
        if self.base_ is not None:
            score = score + self.base_.raw(X)
        return score + self.penalty_.raw(X) if self.penalty_ is not None else score

    def predict_good(self, X: pd.DataFrame) -> np.ndarray:
        """Probability (0–1) that each photo is good."""
        return expit(self.raw_score(X))  # no overflow warning far from the threshold

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """scikit-learn layout: columns (p_bad, p_good)."""
        p = self.predict_good(X)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where p_good >= 0.5, else 0 (a model folder applies its own threshold)."""
        return (self.predict_good(X) >= 0.5).astype(int)

    def contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Each feature's push (n, features) in log-odds, and the expected value (n,): the
        trees' exact TreeSHAP values plus the base margin's and the defect penalty's terms,
        which belong to one feature each. They sum, with the expected value, to
        :meth:`raw_score`."""
        X = self.matrix(X)
        out = self.booster_.predict(X, pred_contrib=True, num_iteration=self.best_iteration_)
        shap, expected = out[:, :-1], out[:, -1]
        if self.base_ is not None:
            shap = shap + self.base_.contributions(X, self.feature_names_in_)
            expected = expected + self.base_.expected
        if self.penalty_ is not None:
            shap = shap + self.penalty_.contributions(X, self.feature_names_in_)
        return shap, expected
