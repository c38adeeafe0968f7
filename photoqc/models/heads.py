"""Learned heads on the networks' multi-level stats: how people like a photo, and what is
visibly wrong with it.

Both NIMA MobileNets pool each of their 13 pointwise blocks into per-channel means and
spreads (:data:`photoqc.models.nima.onnx_graph.STATS_WIDTH` numbers a network, from the
pass that gives the scores: Hosu, Goldlücke & Saupe's multi-level spatially pooled
features, CVPR 2019). Early blocks see noise, blocking and blur that the last, pooled
layer of a thumbnail has averaged away. Two ridge regressions read them out:

- the **impression** head: the model's training target (people's MOS) from the stats of
  real photos only;
- the **defect** head: for each class of :data:`photoqc.synthetic.DEFECT_CLASSES` (blur,
  noise, compression, colour, exposure, spatial), how much of the original a copy lost
  (``1 - fidelity``, :func:`photoqc.metrics.fidelity`) when its defect is of that class,
  0 otherwise; fitted on synthetic copies and their clean originals (0 everywhere). Its
  outputs add up to the photo's predicted loss and say which kind of damage it is.

The stats are standardised once, over every row a model learns from; each ridge is then
solved through the rows' Gram matrix (:class:`GramRidge`: far fewer rows than stats), so
one matrix serves every fold of the cross-validation, and the penalty of each head (each
defect class its own) is chosen by leave-one-out error over :data:`ALPHAS`. The model
folder keeps the heads as arrays (``heads.safetensors``, its sha256 in ``photoqc.json``):
loading them runs no code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from photoqc.errors import PhotoqcError
from photoqc.features.nima import DEFECT_FEATURES, IMPRESSION_FEATURE, LEARNED_FEATURES

__all__ = [
    "ALPHAS",
    "HEADS_FILE",
    "LEARNED_FEATURES",
    "GramRidge",
    "HeadsError",
    "NetworkHeads",
    "RidgeMap",
    "stats_matrix",
]

HEADS_FILE = "heads.safetensors"
FORMAT = "photoqc-network-heads"
ALPHAS = tuple(float(a) for a in np.logspace(0, 7, 29))
"""Ridge penalties tried, on standardised stats (about 24,000 of them, so a strong penalty
is the norm)."""
MIN_ROWS = 20
"""Fewer rows with stats than this: no head (too few to learn from, even shrunk)."""
MAX_WIDTH = 1 << 17


class HeadsError(PhotoqcError):
    """A heads file that is not one photoqc wrote (checked before use)."""


def stats_matrix(
    per_image: Sequence[Mapping[str, np.ndarray] | None], models: Sequence[str], width: int
) -> np.ndarray:
    """The stats of several images, each model's joined in ``models`` order, as (n, width)
    float32; NaN rows where an image has none (NIMA off or failed, a model missing)."""
    out = np.full((len(per_image), width), np.nan, np.float32)
    for i, stats in enumerate(per_image):
        if stats and all(m in stats for m in models):
            row = np.concatenate([np.asarray(stats[m], np.float32).ravel() for m in models])
            if row.shape == (width,):
                out[i] = row
    return out


@dataclass(frozen=True)
class RidgeMap:
    """Standardise, then a linear map: ``((x - mean) / scale) @ coef + intercept``.

    Attributes
    ----------
    mean, scale : ndarray (d,)
    coef : ndarray (d, k)
    intercept, alpha : ndarray (k,)
        One per output; ``alpha`` is the penalty each was fitted with.
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    alpha: np.ndarray

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n, k) outputs of (n, d) stats; NaN rows where a row has no stats."""
        X = np.asarray(X, dtype=np.float32)
        # Row by row: a matrix product's blocking depends on how many rows it is given,
        # which moved a photo's output by ~3e-8 between batches of 1, 2 and 16; a photo's
        # value must not depend on the photos scored beside it (the local and the Ray
        # engine, a command and the service give the same p_good).
        Z = (X - self.mean) / self.scale
        out = np.empty((len(X), self.coef.shape[1]), np.float64)
        for i, z in enumerate(Z):
            out[i] = z @ self.coef
        out += self.intercept
        return np.where(np.isfinite(X).all(axis=1, keepdims=True), out, np.nan)


class GramRidge:
    """Ridge regressions of rows of standardised stats, solved through their Gram matrix.

    Parameters
    ----------
    X : ndarray (n, d)
        Every row any fit or prediction will use (rows with NaN are never used: give
        finite rows only). Standardised here by its own mean and standard deviation
        (the same for every subset: a transform that reads no label).
    """

    def __init__(self, X: np.ndarray):
        X = np.asarray(X, dtype=np.float32)
        if not np.isfinite(X).all():
            raise ValueError("GramRidge needs finite rows")
        self.mean = X.mean(axis=0, dtype=np.float64).astype(np.float32)
        scale = X.std(axis=0, dtype=np.float64)
        scale[scale < 1e-6] = 1.0
        self.scale = scale.astype(np.float32)
        self.Z = (X - self.mean) / self.scale
        self.K = (self.Z @ self.Z.T).astype(np.float64)

    def fit(
        self,
        rows: np.ndarray,
        Y: np.ndarray,
        alphas: Sequence[float] = ALPHAS,
        alpha: np.ndarray | None = None,
    ) -> _DualFit:
        """Fit on ``rows`` (indices into X) to targets ``Y`` (len(rows), k), an intercept
        and a penalty per output: ``alpha`` when given, else the one of ``alphas`` with the
        least leave-one-out squared error (exact for the centred ridge, from one
        eigendecomposition)."""
        rows = np.asarray(rows, dtype=np.intp)
        Y = np.asarray(Y, dtype=np.float64).reshape(len(rows), -1)
        K = self.K[np.ix_(rows, rows)]
        mu = K.mean(axis=1)
        nu = float(K.mean())
        Kc = K - mu[:, None] - mu[None, :] + nu
        y_mean = Y.mean(axis=0)
        Yc = Y - y_mean
        if alpha is None:
            w, V = np.linalg.eigh(Kc)
            w = np.clip(w, 0.0, None)
            Q = V.T @ Yc
            V2 = V * V
            best = np.full(Y.shape[1], np.inf)
            alpha = np.empty(Y.shape[1])
            n = len(rows)
            for a in alphas:
                # Residuals and 1 - leverage (the intercept's 1/n included) written with
                # a / (w + a), which stays accurate where the fit nearly interpolates; the
                # constant direction (w = 0, taken by the intercept) cancels the 1/n.
                kept = a / (w + a)
                residual = V @ (Q * kept[:, None])
                free = np.clip(V2 @ kept - 1.0 / n, 1e-12, None)
                error = ((residual / free[:, None]) ** 2).mean(axis=0)
                better = error < best
                best[better], alpha[better] = error[better], a
            dual = np.column_stack([V @ (Q[:, j] / (w + alpha[j])) for j in range(Y.shape[1])])
        else:
            alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (Y.shape[1],)).copy()
            dual = np.column_stack(
                [
                    np.linalg.solve(Kc + alpha[j] * np.eye(len(rows)), Yc[:, j])
                    for j in range(Y.shape[1])
                ]
            )
        return _DualFit(rows, mu, nu, y_mean, dual, alpha)

    def predict(self, fit: _DualFit, rows: np.ndarray) -> np.ndarray:
        """(len(rows), k) predictions for ``rows`` of a fit."""
        rows = np.asarray(rows, dtype=np.intp)
        K = self.K[np.ix_(rows, fit.rows)]
        Kc = K - K.mean(axis=1, keepdims=True) - fit.mu[None, :] + fit.nu
        return Kc @ fit.dual + fit.y_mean

    def out_of_fold(
        self,
        rows: np.ndarray,
        Y: np.ndarray,
        groups: np.ndarray,
        strata: np.ndarray,
        *,
        folds: int = 5,
        seed: int = 0,
        alphas: Sequence[float] = ALPHAS,
    ) -> np.ndarray:
        """Each row's prediction from a fit without its group (a photo and its copies):
        stratified ``folds``-fold by group, the penalty chosen once on all ``rows``."""
        from sklearn.model_selection import StratifiedGroupKFold

        rows = np.asarray(rows, dtype=np.intp)
        Y = np.asarray(Y, dtype=np.float64).reshape(len(rows), -1)
        alpha = self.fit(rows, Y, alphas).alpha
        out = np.full(Y.shape, np.nan)
        splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
        for train, test in splitter.split(rows, strata, groups):
            fit = self.fit(rows[train], Y[train], alpha=alpha)
            out[test] = self.predict(fit, rows[test])
        return out

    def primal(self, fit: _DualFit) -> RidgeMap:
        """The fit as a :class:`RidgeMap` on raw stats (what a model folder keeps)."""
        Z = self.Z[fit.rows]
        coef = Z.T.astype(np.float64) @ fit.dual  # the dual sums to 0: no centring term
        centre = Z.mean(axis=0, dtype=np.float64)
        intercept = fit.y_mean - centre @ coef
        return RidgeMap(
            self.mean.copy(),
            self.scale.copy(),
            coef.astype(np.float32),
            intercept.astype(np.float64),
            fit.alpha.copy(),
        )


@dataclass(frozen=True)
class _DualFit:
    rows: np.ndarray
    mu: np.ndarray
    nu: float
    y_mean: np.ndarray
    dual: np.ndarray
    alpha: np.ndarray


@dataclass(frozen=True)
class NetworkHeads:
    """A model's impression and defect heads, and which networks' stats they read.

    Attributes
    ----------
    models : tuple of str
        NIMA model names, in the order their stats are joined.
    width : int
        Stats per photo, all networks together.
    impression : RidgeMap or None
        One output: the model's training target.
    defect : RidgeMap or None
        One output per :data:`classes`: the share of the original that damage of that
        class took.
    classes : tuple of str
    """

    models: tuple[str, ...]
    width: int
    impression: RidgeMap | None
    defect: RidgeMap | None
    classes: tuple[str, ...] = tuple(DEFECT_FEATURES)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The features the heads add, in :data:`LEARNED_FEATURES` order."""
        names = []
        if self.impression is not None:
            names.append(IMPRESSION_FEATURE)
        if self.defect is not None:
            names += [DEFECT_FEATURES[c] for c in self.classes]
        return tuple(n for n in LEARNED_FEATURES if n in names)

    def features(self, stats: np.ndarray) -> dict[str, np.ndarray]:
        """Each learned feature (n,) of (n, width) stats; NaN where a photo has none.
        Defect losses are clipped to 0–1 (a ridge may overshoot either way)."""
        out: dict[str, np.ndarray] = {}
        if self.impression is not None:
            out[IMPRESSION_FEATURE] = self.impression.predict(stats)[:, 0].astype(np.float64)
        if self.defect is not None:
            losses = np.clip(self.defect.predict(stats), 0.0, 1.0).astype(np.float64)
            for j, name in enumerate(self.classes):
                out[DEFECT_FEATURES[name]] = losses[:, j]
        return out

    def matrix(self, per_image: Sequence[Mapping[str, np.ndarray] | None]) -> np.ndarray:
        """The stats of several images in :attr:`models` order (NaN rows where missing)."""
        return stats_matrix(per_image, self.models, self.width)

    # --- as data ------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        from safetensors.numpy import save

        tensors: dict[str, np.ndarray] = {}
        for name in ("impression", "defect"):
            head = getattr(self, name)
            if head is None:
                continue
            tensors[f"{name}.mean"] = head.mean.astype(np.float32)
            tensors[f"{name}.scale"] = head.scale.astype(np.float32)
            tensors[f"{name}.coef"] = head.coef.astype(np.float32)
            tensors[f"{name}.intercept"] = head.intercept.astype(np.float64)
            tensors[f"{name}.alpha"] = head.alpha.astype(np.float64)
        meta = {"format": FORMAT, "models": list(self.models), "width": self.width,
                "classes": list(self.classes)}  # fmt: skip
        return save(tensors, metadata={"photoqc": json.dumps(meta)})

    @classmethod
    def from_bytes(cls, data: bytes) -> NetworkHeads:
        """Heads from their file, every array checked (shapes, finite values).

        Raises
        ------
        HeadsError
        """
        from safetensors import SafetensorError
        from safetensors.numpy import load

        try:
            tensors = load(data)
            # The format: an 8-byte little-endian header length, then the JSON header.
            size = int.from_bytes(data[:8], "little")
            header = json.loads(data[8 : 8 + size])
            meta = json.loads(header.get("__metadata__", {}).get("photoqc", ""))
        except (SafetensorError, ValueError, RecursionError, AttributeError, OSError) as exc:
            raise HeadsError(f"not a heads file photoqc wrote ({str(exc)[:200]})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise HeadsError("not photoqc's network heads")
        models, width, classes = meta.get("models"), meta.get("width"), meta.get("classes")
        if not (isinstance(models, list) and models and all(isinstance(m, str) for m in models)):
            raise HeadsError("models must be a list of NIMA model names")
        if not (isinstance(width, int) and 0 < width <= MAX_WIDTH):
            raise HeadsError("width must be a positive whole number")
        if classes != list(DEFECT_FEATURES):
            raise HeadsError(f"defect classes must be {', '.join(DEFECT_FEATURES)}")
        heads = {}
        for name, outputs in (("impression", 1), ("defect", len(classes))):
            parts = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(f"{name}.")}
            if not parts:
                heads[name] = None
                continue
            expected = {"mean": (width,), "scale": (width,), "coef": (width, outputs),
                        "intercept": (outputs,), "alpha": (outputs,)}  # fmt: skip
            for key, shape in expected.items():
                array = parts.get(key)
                if array is None or array.shape != shape:
                    raise HeadsError(f"{name}.{key} missing or not of shape {shape}")
                if not np.isfinite(array).all():
                    raise HeadsError(f"{name}.{key} holds a value that is not a finite number")
            if (parts["scale"] <= 0).any():
                raise HeadsError(f"{name}.scale must be > 0")
            heads[name] = RidgeMap(*(parts[k] for k in expected))
        if heads["impression"] is None and heads["defect"] is None:
            raise HeadsError("the file holds no head")
        return cls(tuple(models), int(width), heads["impression"], heads["defect"], tuple(classes))


def loss_targets(
    classes: Sequence[str], copy_classes: Sequence[str | None], losses: np.ndarray
) -> np.ndarray:
    """The defect head's targets (n, len(classes)): each copy's loss in its class's column,
    0 elsewhere (and 0 everywhere for an original, class None)."""
    Y = np.zeros((len(copy_classes), len(classes)))
    where = {c: j for j, c in enumerate(classes)}
    for i, (c, loss) in enumerate(zip(copy_classes, losses, strict=True)):
        if c is not None and math.isfinite(loss):
            Y[i, where[c]] = max(0.0, float(loss))
    return Y
