"""Ridge regression on the networks' multi-level stats, in time and memory linear in rows.

A photo's stats are about 24,000 numbers (:mod:`photoqc.models.heads`); a training set may
hold 100,000 photos and copies. Nothing here ever makes an n x n matrix, and nothing holds
the n x 24,000 stats at once:

1. :class:`StatsBasis` standardises the stats (mean and spread of a sample of rows: a
   transform that reads no label) and keeps the leading principal directions of that
   sample, at most :data:`BASIS_SIZE` of them, fitted once on at most
   :data:`BASIS_SAMPLE` rows. With fewer rows than that, the basis spans every row and
   the ridge below equals kernel ridge on the full stats exactly.
2. Every row is projected on it, a chunk at a time (:func:`project`): the design,
   n x k.
3. :class:`PrimalRidge` fits ridge regressions in the primal (k x k normal equations),
   with an intercept and a penalty per output chosen by exact leave-one-out error,
   computed from the eigendecomposition of the k x k centred cross-product (the squared
   singular values of the n x k design) and the rows' leverages, a chunk of rows at a time.

A fit becomes a :class:`RidgeMap` on raw stats (the basis folded into the coefficients),
which is what a model folder keeps (:mod:`photoqc.models.heads`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from photoqc import interruptible

__all__ = [
    "ALPHAS",
    "BASIS_SAMPLE",
    "BASIS_SIZE",
    "PrimalRidge",
    "RidgeFit",
    "RidgeMap",
    "StatsBasis",
    "project",
]

ALPHAS = tuple(float(a) for a in np.logspace(0, 7, 29))
"""Ridge penalties tried, on standardised stats (about 24,000 of them, so a strong penalty
is the norm)."""
BASIS_SIZE = 2048
"""Most principal directions a basis keeps: the k of every later k x k solve."""
BASIS_SAMPLE = 4096
"""Most rows a basis is fitted on (a seeded random sample beyond that)."""
CHUNK_ROWS = 2048
"""Rows handled at once when projecting and when computing leverages."""
_RELATIVE_FLOOR = 1e-10
"""Directions whose variance is below this share of the largest are numerical noise."""

Step = Callable[[], None]
"""Called between chunks of work (progress, and where Ctrl-C can land)."""


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class StatsBasis:
    """Standardisation and a reduced orthonormal basis of the standardised stats.

    Attributes
    ----------
    mean, scale : ndarray (d,), float32
        ``(x - mean) / scale`` standardises a row of stats.
    components : ndarray (d, k), float64
        Orthonormal principal directions of the standardised sample, largest first
        (float64: projections agree with kernel ridge on the full stats to 1e-9).
    explained : float
        Share of the sample's variance the components keep, 0–1.
    sample_rows : int
        Rows the basis was fitted on.
    """

    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray
    explained: float
    sample_rows: int

    @property
    def size(self) -> int:
        return int(self.components.shape[1])

    @classmethod
    def fit(cls, sample: np.ndarray, size: int = BASIS_SIZE, step: Step = _nothing) -> StatsBasis:
        """The basis of ``sample`` (m, d) finite rows: its mean and spread, and its leading
        ``size`` principal directions (fewer when the sample has fewer); ``step()`` between
        pieces of work."""
        sample = np.asarray(sample, dtype=np.float32)
        if sample.ndim != 2 or len(sample) < 2 or not np.isfinite(sample).all():
            raise ValueError("a basis needs at least 2 finite rows")
        mean = sample.mean(axis=0, dtype=np.float64).astype(np.float32)
        scale = sample.std(axis=0, dtype=np.float64)
        scale[scale < 1e-6] = 1.0
        scale = scale.astype(np.float32)
        Z = (sample - mean) / scale
        # The m x m Gram matrix of the sample, summed in float64 a block of columns at a
        # time (float32 sums lose the small directions kernel ridge would keep).
        m, d = Z.shape
        G = np.zeros((m, m))
        for start in range(0, d, 2048):
            block = Z[:, start : start + 2048].astype(np.float64)
            G += block @ block.T
            step()
        w, U = interruptible.call(lambda: np.linalg.eigh(G), step)
        order = np.argsort(w)[::-1]
        w, U = w[order], U[:, order]
        keep = w > _RELATIVE_FLOOR * max(float(w[0]), 1e-300)
        keep[size:] = False
        w_kept, U_kept = w[keep], U[:, keep]
        components = np.empty((d, len(w_kept)), np.float64)
        for start in range(0, d, 2048):
            block = Z[:, start : start + 2048].astype(np.float64)
            components[start : start + 2048] = (block.T @ U_kept) / np.sqrt(w_kept)
            step()
        total = float(np.clip(w, 0, None).sum())
        explained = float(w_kept.sum() / total) if total > 0 else 1.0
        return cls(mean, scale, components, explained, m)

    def project(self, X: np.ndarray) -> np.ndarray:
        """(n, k) float64 coordinates of (n, d) rows of stats."""
        Z = (np.asarray(X, dtype=np.float32) - self.mean) / self.scale
        return Z.astype(np.float64) @ self.components


def project(
    chunks: Iterable[np.ndarray], n: int, basis: StatsBasis, step: Step = _nothing
) -> np.ndarray:
    """The (n, k) design of ``n`` rows given as consecutive (c, d) chunks, projected a chunk
    at a time (the d-wide rows are never held together); ``step()`` after each chunk."""
    out = np.empty((n, basis.size), np.float64)
    at = 0
    for chunk in chunks:
        out[at : at + len(chunk)] = basis.project(chunk)
        at += len(chunk)
        step()
    if at != n:
        raise ValueError(f"expected {n} rows of stats, got {at}")
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


@dataclass(frozen=True)
class RidgeFit:
    """Ridge regressions fitted on some rows of a design: ``(p - mu) @ coef + y_mean``.

    Attributes
    ----------
    mu : ndarray (k,)
        The fitted rows' mean in the basis.
    coef : ndarray (k, o)
    y_mean, alpha : ndarray (o,)
        Each output's mean target and the penalty it was fitted with.
    """

    mu: np.ndarray
    coef: np.ndarray
    y_mean: np.ndarray
    alpha: np.ndarray


class PrimalRidge:
    """Ridge regressions of rows of stats, in a reduced basis and in the primal.

    Parameters
    ----------
    design : ndarray (n, k)
        Every row any fit or prediction will use, in ``basis`` (:func:`project`).
    basis : StatsBasis
    step : callable, optional
        Called between pieces of work of a fit (each well under a few seconds at
        k = 2,048): progress, and the moments Ctrl-C can stop a fit.
    """

    def __init__(self, design: np.ndarray, basis: StatsBasis, step: Step = _nothing):
        self.design = np.asarray(design, dtype=np.float64)
        self.basis = basis
        self.step = step
        self._universes: list[tuple[np.ndarray, ...]] = []

    @classmethod
    def of(
        cls,
        X: np.ndarray,
        size: int = BASIS_SIZE,
        sample: int = BASIS_SAMPLE,
        seed: int = 0,
    ) -> PrimalRidge:
        """From (n, d) finite rows held in memory (small problems, benchmarks): the basis
        fitted on a sample of at most ``sample`` of them."""
        X = np.asarray(X, dtype=np.float32)
        if not np.isfinite(X).all():
            raise ValueError("PrimalRidge needs finite rows")
        basis = StatsBasis.fit(X[sample_rows(len(X), sample, seed)], size)
        chunks = (X[i : i + CHUNK_ROWS] for i in range(0, len(X), CHUNK_ROWS))
        return cls(project(chunks, len(X), basis), basis)

    # --- fitting -------------------------------------------------------------------------

    def remember(self, rows: np.ndarray, Y: np.ndarray) -> None:
        """Keep the raw sums of ``rows`` (with their targets ``Y``): a later fit on most of
        them then only sums the rows left out and subtracts (a fold on 4/5 of the rows
        costs 1/5 of a pass)."""
        rows = np.asarray(rows, dtype=np.intp)
        Y = np.asarray(Y, dtype=np.float64).reshape(len(rows), -1)
        where = np.full(len(self.design), -1, np.intp)
        where[rows] = np.arange(len(rows))
        self._universes.append((rows, Y, where, self._sums(rows, Y)))

    def _sums(self, rows: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, ...]:
        """Sum of rows, of their outer products, of row x target, of targets (raw)."""
        k = self.design.shape[1]
        total, C, XY = np.zeros(k), np.zeros((k, k)), np.zeros((k, Y.shape[1]))
        for start in range(0, len(rows), CHUNK_ROWS):
            A = self.design[rows[start : start + CHUNK_ROWS]]
            total += A.sum(axis=0)
            C += A.T @ A
            XY += A.T @ Y[start : start + CHUNK_ROWS]
            self.step()
        return total, C, XY, Y.sum(axis=0)

    def _moments(
        self, rows: np.ndarray, Y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows' mean, their centred k x k cross-product, and the cross-product with the
        centred targets."""
        sums = None
        for all_rows, all_Y, where, all_sums in self._universes:
            at = where[rows]
            if (
                Y.shape[1] == all_Y.shape[1]
                and len(rows) > len(all_rows) / 2
                and (at >= 0).all()
                and len(np.unique(rows)) == len(rows)
                and np.array_equal(all_Y[at], Y)
            ):
                left = np.ones(len(all_rows), bool)
                left[at] = False
                rest = self._sums(all_rows[left], all_Y[left])
                sums = tuple(a - b for a, b in zip(all_sums, rest, strict=True))
                break
        if sums is None:
            sums = self._sums(rows, Y)
        total, C, XY, y_total = sums
        n = len(rows)
        mu, y_mean = total / n, y_total / n
        C = C - n * np.outer(mu, mu)
        XY = XY - n * np.outer(mu, y_mean)
        return mu, C, XY

    def fit(
        self,
        rows: np.ndarray,
        Y: np.ndarray,
        alphas: Sequence[float] = ALPHAS,
        alpha: np.ndarray | None = None,
    ) -> RidgeFit:
        """Fit on ``rows`` (indices into the design) to targets ``Y`` (len(rows), o), an
        intercept and a penalty per output: ``alpha`` when given, else the one of ``alphas``
        with the least leave-one-out squared error (exact for ridge with an unpenalised
        intercept)."""
        rows = np.asarray(rows, dtype=np.intp)
        Y = np.asarray(Y, dtype=np.float64).reshape(len(rows), -1)
        mu, C, XY = self._moments(rows, Y)
        y_mean = Y.mean(axis=0)
        outputs = Y.shape[1]
        if alpha is not None:
            alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (outputs,)).copy()
            coef = np.empty((C.shape[0], outputs))
            eye = np.eye(C.shape[0])
            for a in np.unique(alpha):
                which = alpha == a
                coef[:, which] = np.linalg.solve(C + a * eye, XY[:, which])
                self.step()
            return RidgeFit(mu, coef, y_mean, alpha)
        w, V = interruptible.call(lambda: np.linalg.eigh(C), self.step)
        w = np.clip(w, 0.0, None)
        Q = V.T @ XY  # (k, o)
        a = np.asarray(alphas, dtype=np.float64)
        inverse = 1.0 / (w[:, None] + a[None, :])  # (k, A)
        error = np.zeros((len(a), outputs))
        n = len(rows)
        for start in range(0, n, CHUNK_ROWS):
            chunk = rows[start : start + CHUNK_ROWS]
            B = (self.design[chunk] - mu) @ V  # (c, k): the rows in the eigenbasis
            free = 1.0 - 1.0 / n - (B * B) @ inverse  # (c, A): 1 - leverage
            free = np.clip(free, 1e-12, None)
            Yc = Y[start : start + CHUNK_ROWS] - y_mean
            for j in range(len(a)):
                residual = Yc - B @ (Q * inverse[:, j, None])
                error[j] += ((residual / free[:, j, None]) ** 2).sum(axis=0)
            self.step()
        best = np.argmin(error, axis=0)  # the first (smallest penalty) of equal errors
        alpha = a[best]
        coef = V @ (Q * inverse[:, best])
        return RidgeFit(mu, coef, y_mean, alpha)

    def predict(self, fit: RidgeFit, rows: np.ndarray) -> np.ndarray:
        """(len(rows), o) predictions for ``rows`` of a fit."""
        rows = np.asarray(rows, dtype=np.intp)
        return (self.design[rows] - fit.mu) @ fit.coef + fit.y_mean

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

    def primal(self, fit: RidgeFit) -> RidgeMap:
        """The fit as a :class:`RidgeMap` on raw stats (the basis folded into the
        coefficients: what a model folder keeps)."""
        coef = self.basis.components @ fit.coef
        intercept = fit.y_mean - fit.mu @ fit.coef
        return RidgeMap(
            self.basis.mean.copy(),
            self.basis.scale.copy(),
            coef.astype(np.float32),
            intercept.astype(np.float64),
            fit.alpha.copy(),
        )


def sample_rows(n: int, size: int = BASIS_SAMPLE, seed: int = 0) -> np.ndarray:
    """Indices of the rows a basis is fitted on: all ``n`` when there are at most ``size``,
    else ``size`` drawn at random (seeded), in order."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
