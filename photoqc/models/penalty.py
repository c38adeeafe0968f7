"""Defect penalties: beyond the worst a good training photo showed, each step further costs.

A tree model cannot say anything about values it never saw: on a set of phone photos where
the noisiest good photo has noise 6, a photo with noise 30 is judged like one with noise 6.
Degraded copies of good photos (:mod:`photoqc.pipelines.training.augment`) show what stronger
defects do; the penalty learns it without touching what the trees learned from real photos:

    log-odds of good = trees(x) - sum_f w_f * max(0, s_f * (x_f - t_f) / scale_f)

Each term is a hinge on one defect feature (one with a direction: more noise, blocking,
clipping, a stronger cast, less detail are never better): zero up to ``t_f``, the worst
value among good training photos, then growing linearly with how far past it the photo
is, in units of the good photos' spread (``scale_f``). The weights ``w_f >= 0`` are fitted
on the real photos and their copies with the trees' scores held fixed (logistic loss,
bounded L-BFGS). A real photo within the range of good ones is never penalised; and each
term is an exact, additive part of the log-odds, so it joins that feature's SHAP value and
the reasons name the defect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

L2 = 1e-3
"""Ridge on the penalty weights, each in log-odds at its hinge's median past the threshold."""


@dataclass(frozen=True)
class DefectPenalty:
    """Hinge penalties on defect features (see the module docstring)."""

    features: tuple[str, ...]
    thresholds: tuple[float, ...]
    scales: tuple[float, ...]
    signs: tuple[int, ...]  # +1: higher is worse; -1: lower is worse
    weights: tuple[float, ...]

    @classmethod
    def design(
        cls,
        good: pd.DataFrame,
        directions: Mapping[str, int],
        quantile: float = 1.0,
    ) -> DefectPenalty:
        """Hinges (weights 0) for the features with a direction, from ``good`` photos: each
        starts at their ``quantile`` worst value (1.0: the worst), scaled by their IQR. A
        direction of 0 (a bounded feature: good photos lie in a range) gets two hinges,
        one past each end of that range."""
        features, thresholds, scales, signs = [], [], [], []
        for name, direction in directions.items():
            values = good[name].to_numpy(np.float64)
            values = values[np.isfinite(values)]
            if values.size < 5:
                continue
            low, high = np.percentile(values, [25, 75])
            scale = (high - low) or float(np.std(values)) or 1.0
            # A feature that is better higher is worse lower; a bounded one both ways.
            for worse in (-int(direction),) if direction else (1, -1):
                edge = quantile if worse > 0 else 1.0 - quantile
                thresholds.append(float(np.quantile(values, edge)))
                features.append(name)
                scales.append(float(scale))
                signs.append(worse)
        zeros = (0.0,) * len(features)
        return cls(tuple(features), tuple(thresholds), tuple(scales), tuple(signs), zeros)

    def hinges(self, X: pd.DataFrame) -> np.ndarray:
        """How far past its threshold each row is on each feature, in spreads, >= 0 (n, k);
        a feature that was not measured costs nothing."""
        if not self.features:
            return np.zeros((len(X), 0))
        values = X[list(self.features)].to_numpy(np.float64)
        past = (values - np.array(self.thresholds)) * np.array(self.signs) / np.array(self.scales)
        return np.nan_to_num(np.maximum(past, 0.0))

    def raw(self, X: pd.DataFrame) -> np.ndarray:
        """The penalty's part of the log-odds of "good" per row, <= 0."""
        return -(self.hinges(X) @ np.array(self.weights)) if self.features else np.zeros(len(X))

    def contributions(self, X: pd.DataFrame, feature_names: Sequence[str]) -> np.ndarray:
        """The penalty per row and feature, laid out as ``feature_names`` (n, features)."""
        out = np.zeros((len(X), len(feature_names)))
        if self.features:
            column = {name: j for j, name in enumerate(feature_names)}
            terms = -self.hinges(X) * np.array(self.weights)
            for k, name in enumerate(self.features):  # a bounded feature has two terms
                out[:, column[name]] += terms[:, k]
        return out

    def fit(
        self,
        X: pd.DataFrame,
        offset: np.ndarray,
        target: np.ndarray,
        weight: np.ndarray,
        l2: float = L2,
    ) -> DefectPenalty:
        """Weights that best predict ``target`` from ``offset`` (the trees' log-odds) plus
        the penalty, each >= 0 (weighted logistic loss plus ``l2`` ridge)."""
        from scipy.optimize import minimize

        H = self.hinges(X)
        if H.shape[1] == 0 or not H.any():
            return self
        y, w = np.asarray(target, np.float64), np.asarray(weight, np.float64)
        offset = np.asarray(offset, np.float64)
        # Hinges range from tenths (tone levels) to thousands of spreads (lone dots, whose
        # good photos hardly vary): solved in units of each hinge's median over the rows
        # past it, or the solver stops short on so ill-conditioned a problem (it did: the
        # tone-level weight stayed at about a seventieth of its optimum); the ridge acts in them.
        unit = np.array([np.median(h[h > 0]) if (h > 0).any() else 1.0 for h in H.T])
        Hn = H / unit

        def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
            z = offset - Hn @ beta
            # log p = -log(1 + e^-z), log(1 - p) = -log(1 + e^z), without overflow.
            value = (w * (y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z))).sum() / w.sum()
            p = np.exp(-np.logaddexp(0, -z))
            gradient = -(Hn.T @ ((p - y) * w)) / w.sum()
            return value + l2 * float(beta @ beta), gradient + 2 * l2 * beta

        result = minimize(
            loss, np.zeros(H.shape[1]), jac=True, method="L-BFGS-B", bounds=[(0, None)] * H.shape[1]
        )
        weights = result.x / unit
        return DefectPenalty(
            self.features, self.thresholds, self.scales, self.signs, tuple(map(float, weights))
        )

    def record(self) -> dict[str, list]:
        """The penalty as a model's ``photoqc.json`` keeps it (only non-zero terms)."""
        keep = [k for k, w in enumerate(self.weights) if w > 0]
        return {
            "features": [self.features[k] for k in keep],
            "thresholds": [self.thresholds[k] for k in keep],
            "scales": [self.scales[k] for k in keep],
            "signs": [self.signs[k] for k in keep],
            "weights": [self.weights[k] for k in keep],
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Sequence] | None) -> DefectPenalty:
        record = record or {}
        return cls(
            tuple(record.get("features", ())),
            tuple(map(float, record.get("thresholds", ()))),
            tuple(map(float, record.get("scales", ()))),
            tuple(map(int, record.get("signs", ()))),
            tuple(map(float, record.get("weights", ()))),
        )
