"""A trained LightGBM booster with its base margin and defect penalty, as it scores: the
log-odds of "good", its probability and each feature's exact push on it.

This is the one scoring path: a model folder scores through it
(:attr:`photoqc.models.bundle.ModelBundle.classifier`), and the estimator that trains it
(:class:`photoqc.models.classifier.GoodBadClassifier`) inherits it. It imports neither
scikit-learn nor LightGBM itself (the booster is handed in), so a scoring process loads
neither scikit-learn nor scipy.stats: half a second of every start-up.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import expit

from photoqc.models.margin import BaseMargin
from photoqc.models.penalty import DefectPenalty


class BoostedModel:
    """A booster's scores (log-odds, probability, TreeSHAP contributions) with any base
    margin and defect penalty.

    Attributes
    ----------
    soft : bool
        The booster was trained on probabilities (cross-entropy) rather than 0/1.
    booster_ : lightgbm.Booster
    best_iteration_ : int
        Rounds used when predicting.
    feature_names_in_ : list of str
        The columns the model reads, in its order.
    penalty_ : DefectPenalty or None
        Hinge penalties on defect features.
    base_ : BaseMargin or None
        Where the log-odds start before the trees (the network heads' features).
    classes_ : ndarray
        ``[0, 1]``: bad, good.
    """

    base_: BaseMargin | None = None
    penalty_: DefectPenalty | None = None

    def __init__(self, *, soft: bool = False):
        self.soft = soft

    @classmethod
    def from_booster(
        cls,
        booster,
        feature_names: Sequence[str],
        penalty: DefectPenalty | None = None,
        *,
        soft: bool = False,
        base: BaseMargin | None = None,
    ) -> BoostedModel:
        """A fitted model around a trained booster (as a model folder holds it)."""
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
