"""The base margin: where a model's verdict starts before the trees correct it.

A model with network heads (:mod:`photoqc.models.heads`) starts each photo's log-odds of
"good" from what the heads learned:

    base(x) = b + w_I * impression - sum_c w_c * max(0, loss_c - t_c)

in two stages, so the synthetic copies never pull the real-photo fit down:

1. ``b`` and ``w_I >= 0`` by logistic loss on the real photos alone: on them the verdict
   starts exactly where the impression head puts it;
2. each defect class's ``w_c >= 0`` on the degraded copies and their clean originals, the
   first stage held fixed, with a hinge at ``t_c``, the most damage of that class the
   head sees in any good real photo: a real photo within the range of good ones is never
   pushed down by it (the head reads some loss into every photo), one past it is, step by
   step.

The trees (:mod:`photoqc.models.classifier`) are then boosted from this margin
(LightGBM's ``init_score``), so they learn only what the heads miss. Each term is an
exact, additive part of the log-odds: its SHAP value is ``w * (h(x) - mean)``, the mean of
the term ``h`` over the real training photos, and the intercept with the means goes into
the expected value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

L2 = 1e-3
"""Ridge on the weights (features are standardised for the fit)."""


def _logistic(
    A: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    bounds: list[tuple[float | None, float | None]],
    offset: np.ndarray | float = 0.0,
    *,
    intercept: bool = True,
) -> np.ndarray:
    """(intercept, slopes) minimising the weighted logistic loss of soft targets ``y`` with
    the margin ``offset + b + A @ w`` (columns standardised for the fit, L2 on the
    slopes), slopes within ``bounds``; without ``intercept``, ``b`` stays 0 (where the
    margin starts is the offset's)."""
    from scipy.optimize import minimize

    centre = A.mean(axis=0) if len(A) else np.zeros(A.shape[1])
    spread = A.std(axis=0) if len(A) else np.ones(A.shape[1])
    spread[~(spread > 1e-12)] = 1.0
    Z = (A - centre) / spread
    total = weight.sum()

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        margin = offset + theta[0] + Z @ theta[1:]
        value = float((weight * (np.logaddexp(0.0, margin) - y * margin)).sum() / total)
        grad_m = weight * (1.0 / (1.0 + np.exp(-margin)) - y) / total
        grad = np.concatenate([[grad_m.sum()], Z.T @ grad_m])
        value += L2 * float(theta[1:] @ theta[1:])
        grad[1:] += 2 * L2 * theta[1:]
        return value, grad

    if not intercept:  # the terms are then taken as they are, not centred
        centre = np.zeros(A.shape[1])
        Z = A / spread
    first = (None, None) if intercept else (0.0, 0.0)
    result = minimize(
        loss, np.zeros(A.shape[1] + 1), jac=True, method="L-BFGS-B", bounds=[first, *bounds]
    )
    slopes = result.x[1:] / spread
    return np.concatenate([[result.x[0] - slopes @ centre], slopes])


def _bound(sign: int) -> tuple[float | None, float | None]:
    return (0.0, None) if sign > 0 else (None, 0.0) if sign < 0 else (None, None)


@dataclass(frozen=True)
class BaseMargin:
    """A start of the log-odds on a few features (see the module docstring).

    Attributes
    ----------
    features : tuple of str
    weights : tuple of float
        Per feature, log-odds per unit of its term.
    intercept : float
    means : tuple of float
        Each term's mean over the real training photos (SHAP's baseline).
    hinges : tuple of float or None
        Per feature, where its hinge starts (its term is ``max(0, x - hinge)``), or None
        for a linear term.
    """

    features: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float
    means: tuple[float, ...]
    hinges: tuple[float | None, ...] = ()

    def __post_init__(self) -> None:
        if not self.hinges:
            object.__setattr__(self, "hinges", (None,) * len(self.features))

    @classmethod
    def fit(
        cls,
        photos: pd.DataFrame,
        target: np.ndarray,
        signs: Mapping[str, int],
        *,
        linear: Sequence[str],
        hinged: Sequence[str] = (),
        copies: pd.DataFrame | None = None,
        copy_target: np.ndarray | None = None,
        copy_weight: np.ndarray | None = None,
        originals: np.ndarray | None = None,
        good: np.ndarray | None = None,
    ) -> BaseMargin:
        """Fit in two stages (see the module docstring): the ``linear`` features on the
        real ``photos`` (soft ``target``), then the ``hinged`` ones on the ``copies`` and
        the photos marked ``originals`` (their clean sources), hinges at the most any
        ``good`` photo shows. ``signs`` bound each weight (+1: it may only raise the
        log-odds; -1: only lower it)."""
        linear, hinged = list(linear), list(hinged)
        y = np.clip(np.asarray(target, np.float64), 0.0, 1.0)
        A = photos[linear].to_numpy(np.float64)
        keep = np.isfinite(A).all(axis=1) & np.isfinite(y)
        first = _logistic(
            A[keep], y[keep], np.ones(int(keep.sum())), [_bound(signs.get(f, 0)) for f in linear]
        )
        intercept, weights = float(first[0]), list(first[1:])
        hinges: list[float | None] = [None] * len(linear)
        if hinged and copies is not None and len(copies):
            good = np.ones(len(photos), bool) if good is None else np.asarray(good, bool)
            starts = np.nanmax(photos.loc[good, hinged].to_numpy(np.float64), axis=0)
            starts = np.where(np.isfinite(starts), starts, 0.0)
            lend = np.zeros(len(photos), bool) if originals is None else np.asarray(originals, bool)
            rows = pd.concat([photos.loc[lend, linear + hinged], copies[linear + hinged]])
            y2 = np.concatenate([y[lend], np.clip(np.asarray(copy_target, np.float64), 0, 1)])
            w2 = np.concatenate([np.ones(int(lend.sum())), np.asarray(copy_weight, np.float64)])
            L = rows[linear].to_numpy(np.float64)
            H = np.clip(rows[hinged].to_numpy(np.float64) - starts, 0.0, None)
            keep2 = np.isfinite(L).all(axis=1) & np.isfinite(H).all(axis=1) & np.isfinite(y2)
            offset = intercept + L[keep2] @ np.asarray(weights)
            # The first stage placed the real photos; the hinges only push down past it.
            bounds = [_bound(signs.get(f, 0)) for f in hinged]
            second = _logistic(H[keep2], y2[keep2], w2[keep2], bounds, offset, intercept=False)
            weights += list(second[1:])
            hinges += [float(t) for t in starts]
        margin = cls(tuple(linear + hinged), tuple(float(w) for w in weights), intercept,
                     (0.0,) * len(weights), tuple(hinges))  # fmt: skip
        terms = margin._terms(photos)
        means = np.nanmean(terms, axis=0) if len(terms) else np.zeros(len(weights))
        return cls(margin.features, margin.weights, intercept,
                   tuple(float(v) for v in np.nan_to_num(means)), margin.hinges)  # fmt: skip

    def _terms(self, X: pd.DataFrame) -> np.ndarray:
        """(n, features): each feature's term, ``x`` or ``max(0, x - hinge)`` (NaN kept)."""
        A = X[list(self.features)].to_numpy(np.float64, copy=True)
        starts = np.array([np.nan if h is None else h for h in self.hinges])
        hinged = ~np.isnan(starts)
        A[:, hinged] = np.where(
            np.isnan(A[:, hinged]), np.nan, np.clip(A[:, hinged] - starts[hinged], 0.0, None)
        )
        return A

    def raw(self, X: pd.DataFrame) -> np.ndarray:
        """The margin (n,) of each row, log-odds of "good" (a NaN feature counts as its
        training mean: no evidence either way)."""
        T = self._terms(X)
        T = np.where(np.isfinite(T), T, np.asarray(self.means))
        return self.intercept + T @ np.asarray(self.weights)

    def contributions(self, X: pd.DataFrame, feature_names: Sequence[str]) -> np.ndarray:
        """(n, len(feature_names)): each term ``w * (h(x) - mean)`` in its feature's column."""
        out = np.zeros((len(X), len(feature_names)))
        column = {name: j for j, name in enumerate(feature_names)}
        T = self._terms(X)
        for j, (name, weight, mean) in enumerate(
            zip(self.features, self.weights, self.means, strict=True)
        ):
            values = np.where(np.isfinite(T[:, j]), T[:, j], mean)
            out[:, column[name]] = weight * (values - mean)
        return out

    @property
    def expected(self) -> float:
        """The margin at the training photos' mean terms (what SHAP's baseline adds)."""
        return self.intercept + float(np.asarray(self.weights) @ np.asarray(self.means))

    def record(self) -> dict[str, object]:
        return {
            "features": list(self.features),
            "weights": list(self.weights),
            "intercept": self.intercept,
            "means": list(self.means),
            "hinges": list(self.hinges),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, object] | None) -> BaseMargin | None:
        if not record:
            return None
        hinges = record.get("hinges") or [None] * len(record["features"])  # type: ignore[arg-type]
        return cls(
            tuple(record["features"]),  # type: ignore[arg-type]
            tuple(float(v) for v in record["weights"]),  # type: ignore[union-attr]
            float(record["intercept"]),  # type: ignore[arg-type]
            tuple(float(v) for v in record["means"]),  # type: ignore[union-attr]
            tuple(None if h is None else float(h) for h in hinges),  # type: ignore[union-attr]
        )
