"""A linear read-out of NIMA's embeddings: people's overall impression, learned.

NIMA's two MobileNets each pool an image into 1,024 numbers before their 10-way heads;
those heads were trained on other people's ratings (AVA, TID2013). A ridge regression from
both embeddings (2,048 numbers) to photoqc's own training target reads out what *these*
labels say, from the same forward pass, at no extra network cost. It becomes one feature,
``nima_embedding_quality`` (higher is better), which the classifier weighs with the
concrete defects.

The regularisation is chosen by RidgeCV's efficient leave-one-out cross-validation over
:data:`ALPHAS`, on standardised embeddings. Training uses it out of fold
(:func:`out_of_fold`) so the classifier never sees a value fitted to the very photo it
learns from. The model folder keeps the read-out as data (``embedding_readout.json``:
the models' order, means, scales, coefficients, intercept; covered by the folder's
signature); loading it runs no code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from photoqc.errors import PhotoqcError
from photoqc.features.nima import READOUT_FEATURE

__all__ = ["READOUT_FEATURE", "READOUT_FILE", "EmbeddingReadout", "out_of_fold"]

READOUT_FILE = "embedding_readout.json"
ALPHAS = tuple(float(a) for a in np.logspace(-1, 5, 25))
"""Ridge penalties tried (on standardised embeddings)."""
MIN_PHOTOS = 20
"""Fewer training photos with embeddings than this: no read-out (too few to learn 2,048
weights, even shrunk)."""
MAX_DIMENSIONS = 1 << 15


class ReadoutError(PhotoqcError):
    """A read-out file that is not one photoqc wrote (checked before use)."""


@dataclass(frozen=True)
class EmbeddingReadout:
    """Standardise, then a ridge: ``intercept + ((e - mean) / scale) @ coef``.

    Attributes
    ----------
    models : tuple of str
        NIMA model names, in the order their embeddings are joined.
    mean, scale, coef : ndarray (d,)
    intercept, alpha : float
    """

    models: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    alpha: float

    @classmethod
    def fit(cls, embeddings: np.ndarray, target: np.ndarray, models: Sequence[str]):
        """Fit on the rows of ``embeddings`` (n, d) that are finite; None when fewer than
        :data:`MIN_PHOTOS` are."""
        from sklearn.linear_model import RidgeCV

        E, y = _finite_rows(embeddings, target)
        if len(y) < MIN_PHOTOS:
            return None
        mean = E.mean(axis=0)
        scale = E.std(axis=0)
        scale[scale < 1e-9] = 1.0
        ridge = RidgeCV(alphas=ALPHAS).fit((E - mean) / scale, y)
        return cls(
            tuple(models),
            mean,
            scale,
            np.asarray(ridge.coef_, dtype=np.float64),
            float(ridge.intercept_),
            float(ridge.alpha_),
        )

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """The read-out of each row (n,); NaN where the embedding is missing."""
        E = np.asarray(embeddings, dtype=np.float64).reshape(-1, len(self.coef))
        out = self.intercept + ((E - self.mean) / self.scale) @ self.coef
        return np.where(np.isfinite(E).all(axis=1), out, np.nan)

    def matrix(self, per_image: Sequence[Mapping[str, np.ndarray] | None]) -> np.ndarray:
        """The embeddings of several images, joined in :attr:`models` order (NaN rows for
        images without them)."""
        return embedding_matrix(per_image, self.models, len(self.coef))

    def record(self) -> dict[str, object]:
        return {
            "format": "photoqc-embedding-readout",
            "models": list(self.models),
            "alpha": self.alpha,
            "intercept": self.intercept,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
        }

    def to_bytes(self) -> bytes:
        return (json.dumps(self.record(), allow_nan=False) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> EmbeddingReadout:
        """A read-out from its JSON file, every field checked.

        Raises
        ------
        ReadoutError
        """
        try:
            record = json.loads(data)
        except (ValueError, RecursionError) as exc:  # a 5,000-digit number is a ValueError
            raise ReadoutError(f"not valid JSON ({str(exc).splitlines()[0][:200]})") from None
        if not isinstance(record, dict) or record.get("format") != "photoqc-embedding-readout":
            raise ReadoutError("not a photoqc embedding read-out")
        models = record.get("models")
        if not (isinstance(models, list) and models and all(isinstance(m, str) for m in models)):
            raise ReadoutError("models must be a list of NIMA model names")
        arrays = {}
        for key in ("mean", "scale", "coef"):
            values = record.get(key)
            if not isinstance(values, list) or not 0 < len(values) <= MAX_DIMENSIONS:
                raise ReadoutError(f"{key} must be a list of numbers")
            try:
                arrays[key] = np.array(values, dtype=np.float64)
            except (TypeError, ValueError):
                raise ReadoutError(f"{key} must be a list of numbers") from None
            if not np.isfinite(arrays[key]).all():
                raise ReadoutError(f"{key} holds a value that is not a finite number")
        if len({len(a) for a in arrays.values()}) != 1 or (arrays["scale"] <= 0).any():
            raise ReadoutError("mean, scale and coef differ in length, or a scale is not > 0")
        numbers = [record.get("intercept"), record.get("alpha")]
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in numbers):
            raise ReadoutError("intercept and alpha must be finite numbers")
        return cls(tuple(models), arrays["mean"], arrays["scale"], arrays["coef"], *numbers)


def embedding_matrix(
    per_image: Sequence[Mapping[str, np.ndarray] | None], models: Sequence[str], width: int
) -> np.ndarray:
    """Embeddings of several images, each model's joined in ``models`` order, as (n, width)
    float64; NaN rows where an image has none (NIMA off, failed, or a model missing)."""
    out = np.full((len(per_image), width), np.nan)
    for i, embeddings in enumerate(per_image):
        if embeddings and all(m in embeddings for m in models):
            row = np.concatenate([np.asarray(embeddings[m], dtype=np.float64) for m in models])
            if row.shape == (width,):
                out[i] = row
    return out


def out_of_fold(
    embeddings: np.ndarray,
    target: np.ndarray,
    strata: np.ndarray,
    models: Sequence[str],
    *,
    folds: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """Each photo's read-out from a read-out fitted without it (stratified ``folds``-fold),
    NaN where it has no embedding or a fold had too few photos to fit."""
    from sklearn.model_selection import StratifiedKFold

    out = np.full(len(target), np.nan)
    n_splits = min(folds, int(min(strata.sum(), (~strata).sum())))
    if n_splits < 2:
        return out
    splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    for train, test in splitter.split(embeddings, strata):
        readout = EmbeddingReadout.fit(embeddings[train], target[train], models)
        if readout is not None:
            out[test] = readout.predict(embeddings[test])
    return out


def _finite_rows(E: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    E = np.asarray(E, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    keep = np.isfinite(E).all(axis=1) & np.isfinite(y)
    return E[keep], y[keep]
