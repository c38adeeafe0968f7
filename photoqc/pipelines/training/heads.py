"""Training the network heads (:mod:`photoqc.models.heads`), out of fold for what reads them.

The impression head learns the labelled photos' targets from their multi-level stats; the
defect head learns, from the good photos' degraded copies and those clean originals, how
much of the original each kind of damage took. Both feed the classifier as features (and
its base margin), so the classifier must never see a head's value for a photo (or a copy)
the head was fitted on: every value it learns from comes from heads fitted without that
photo and its copies (:meth:`TrainingHeads.out_of_fold`), and in cross-validation the
heads are fitted again inside each fold (:meth:`TrainingHeads.in_fold`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from photoqc.assess.extractor import STATS_KEY
from photoqc.features.nima import DEFECT_FEATURES, IMPRESSION_FEATURE
from photoqc.models.heads import MIN_ROWS, NetworkHeads, loss_targets, stats_matrix
from photoqc.models.ridge import (
    BASIS_SAMPLE,
    BASIS_SIZE,
    CHUNK_ROWS,
    PrimalRidge,
    StatsBasis,
    project,
    sample_rows,
)
from photoqc.pipelines.training.augment import Augmented
from photoqc.pipelines.training.labels import Labels
from photoqc.pipelines.training.progress import Stages
from photoqc.synthetic import DEFECT_CLASSES


@dataclass
class HeadsFit:
    """Heads fitted on some photos (and their copies), in the Gram matrix's terms."""

    impression: object | None
    defect: object | None


class StatsRows:
    """Rows of stats given a chunk at a time: each photo's ``{model: array}`` (or None),
    joined in ``models`` order. The d-wide matrix of all rows is never made."""

    def __init__(self, per_image: Sequence[object], models: tuple[str, ...], width: int) -> None:
        self.per_image = per_image
        self.models = models
        self.width = width

    def __len__(self) -> int:
        return len(self.per_image)

    def rows(self, index: np.ndarray) -> np.ndarray:
        """(len(index), width) float32; NaN rows where a photo has none."""
        return stats_matrix([self.per_image[i] for i in index], self.models, self.width)

    def chunks(self, index: np.ndarray, size: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
        for start in range(0, len(index), size):
            yield self.rows(index[start : start + size])

    def finite(self, stages: Stages | None = None) -> np.ndarray:
        """Which rows have every stat, as a boolean mask."""
        out = np.zeros(len(self), bool)
        for start in range(0, len(self), CHUNK_ROWS):
            index = np.arange(start, min(start + CHUNK_ROWS, len(self)))
            out[index] = np.isfinite(self.rows(index)).all(axis=1)
            if stages:
                stages.tick()
        return out


def reduced_ridge(
    sources: Sequence[tuple[StatsRows, np.ndarray]],
    *,
    size: int = BASIS_SIZE,
    sample: int = BASIS_SAMPLE,
    seed: int = 0,
    stages: Stages | None = None,
) -> PrimalRidge:
    """A :class:`PrimalRidge` over the chosen rows of each source, in order: its basis
    fitted on a sample of them all, then every row projected a chunk at a time."""
    stages = stages or Stages()
    counts = [len(index) for _, index in sources]
    total = sum(counts)
    chosen = sample_rows(total, sample, seed)
    offsets = np.cumsum([0, *counts])
    with stages.stage("heads: basis of the networks' stats", total=None):
        parts = []
        for (rows, index), start, stop in zip(sources, offsets[:-1], offsets[1:], strict=True):
            mine = chosen[(chosen >= start) & (chosen < stop)] - start
            if len(mine):
                parts.append(rows.rows(index[mine]))
        basis = StatsBasis.fit(np.concatenate(parts), size, stages.tick)
        del parts
    with stages.stage("heads: projecting the stats", total=max(1, -(-total // CHUNK_ROWS))):

        def chunks() -> Iterator[np.ndarray]:
            for rows, index in sources:
                yield from rows.chunks(index)

        design = project(chunks(), total, basis, lambda: stages.advance())
    return PrimalRidge(design, basis, stages.tick)


@dataclass
class TrainingHeads:
    """The stats of the labelled photos and their copies, and what the heads learn from.

    Attributes
    ----------
    ridge : PrimalRidge
        Over the rows with stats: the photos', then the copies', in a reduced basis.
    photo_row, copy_row : ndarray of int
        Each photo's (copy's) row in ``ridge``, -1 where it has no stats.
    target : ndarray
        Each photo's training target (the impression head's).
    copy_source : ndarray of int
        Each copy's photo.
    copy_losses : ndarray (n_copies, classes)
        The defect head's targets for the copies.
    lends : ndarray of bool
        Photos that lent copies: their clean originals teach the defect head "no loss".
    models : tuple of str
    width : int
    folds : int
    """

    ridge: PrimalRidge
    photo_row: np.ndarray
    copy_row: np.ndarray
    target: np.ndarray
    copy_source: np.ndarray
    copy_losses: np.ndarray
    lends: np.ndarray
    models: tuple[str, ...]
    width: int
    folds: int = 5
    stages: Stages = field(default_factory=Stages)
    _in_fold: dict = field(default_factory=dict, repr=False)

    @classmethod
    def of(
        cls,
        frame: pd.DataFrame,
        labels: Labels,
        extra: Augmented | None,
        models: tuple[str, ...],
        folds: int,
        stages: Stages | None = None,
        basis_size: int = BASIS_SIZE,
    ) -> TrainingHeads | None:
        """From feature tables with a :data:`STATS_KEY` column; None without stats, or
        with too few photos to learn from."""
        if not models or STATS_KEY not in frame:
            return None
        first = next((s for s in frame[STATS_KEY] if isinstance(s, dict) and s), None)
        if first is None:
            return None
        width = sum(len(first[m]) for m in models if m in first)
        photos = StatsRows(list(frame[STATS_KEY]), models, width)
        copies = StatsRows([], models, width)
        copy_source = np.zeros(0, int)
        copy_losses = np.zeros((0, len(DEFECT_CLASSES)))
        known = np.zeros(0, bool)
        if extra is not None and len(extra) and STATS_KEY in extra.X:
            copies = StatsRows(list(extra.X[STATS_KEY]), models, width)
            copy_source = np.asarray(extra.source, int)
            losses = extra.losses if extra.losses is not None else np.full(len(extra), np.nan)
            copy_losses = loss_targets(DEFECT_CLASSES, extra.classes, losses)
            # A copy whose fidelity could not be measured (a crop) teaches no defect.
            known = np.isfinite(losses)
        return cls.from_rows(
            photos, copies, labels.target, copy_source, copy_losses, known, models, width,
            folds, stages, basis_size,
        )  # fmt: skip

    @classmethod
    def from_rows(
        cls,
        photos: StatsRows,
        copies: StatsRows,
        target: np.ndarray,
        copy_source: np.ndarray,
        copy_losses: np.ndarray,
        copy_known: np.ndarray,
        models: tuple[str, ...],
        width: int,
        folds: int,
        stages: Stages | None = None,
        basis_size: int = BASIS_SIZE,
    ) -> TrainingHeads | None:
        """From rows of stats (photos, copies) and what the heads learn; None with too few
        photos with stats to learn from."""
        stages = stages or Stages()
        finite_photos = photos.finite(stages)
        finite_copies = copies.finite(stages) & np.asarray(copy_known, bool)
        if finite_photos.sum() < MIN_ROWS:
            return None
        photo_row = np.full(len(photos), -1)
        photo_row[finite_photos] = np.arange(int(finite_photos.sum()))
        copy_row = np.full(len(copies), -1)
        copy_row[finite_copies] = int(finite_photos.sum()) + np.arange(int(finite_copies.sum()))
        ridge = reduced_ridge(
            [(photos, np.flatnonzero(finite_photos)), (copies, np.flatnonzero(finite_copies))],
            size=basis_size,
            stages=stages,
        )
        lends = np.zeros(len(photos), bool)
        lends[np.unique(copy_source)] = True
        made = cls(
            ridge,
            photo_row,
            copy_row,
            np.asarray(target, float),
            copy_source,
            copy_losses,
            lends,
            models,
            width,
            folds,
            stages,
        )
        made.remember()
        return made

    def remember(self) -> None:
        """Sum every photo's (and copy's) row once per head, so that each fold's fit only
        sums the rows it leaves out (:meth:`PrimalRidge.remember`)."""
        everyone = np.arange(len(self.photo_row))
        with self.stages.stage("heads: sums over every row", total=None):
            rows = self._impression_rows(everyone)
            self.ridge.remember(self.photo_row[rows], self.target[rows])
            rows_d, Y = self._defect_rows(everyone)
            if len(rows_d):
                self.ridge.remember(rows_d, Y)

    # --- fitting ---------------------------------------------------------------------------

    def _copies_of(self, photos: np.ndarray) -> np.ndarray:
        """The copies (indices) whose source is among ``photos`` and that have stats."""
        return np.flatnonzero(np.isin(self.copy_source, photos) & (self.copy_row >= 0))

    def _impression_rows(self, photos: np.ndarray) -> np.ndarray:
        return photos[self.photo_row[photos] >= 0]

    def _defect_rows(self, photos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows and targets of the defect head for ``photos``: the originals that lent
        copies (no loss) and their copies."""
        originals = photos[(self.photo_row[photos] >= 0) & self.lends[photos]]
        copies = self._copies_of(photos)
        rows = np.concatenate([self.photo_row[originals], self.copy_row[copies]])
        Y = np.concatenate(
            [np.zeros((len(originals), len(DEFECT_CLASSES))), self.copy_losses[copies]]
        )
        return rows, Y

    def fit(self, photos: np.ndarray, alphas: HeadsFit | None = None) -> HeadsFit:
        """Heads fitted on ``photos`` (indices) and their copies; with ``alphas`` (an
        earlier fit), at its penalties, else each chosen by leave-one-out error."""
        photos = np.asarray(photos, int)
        impression = defect = None
        rows = self._impression_rows(photos)
        if len(rows) >= MIN_ROWS:
            alpha = alphas.impression.alpha if alphas and alphas.impression else None
            impression = self.ridge.fit(self.photo_row[rows], self.target[rows], alpha=alpha)
        rows_d, Y = self._defect_rows(photos)
        if len(rows_d) >= MIN_ROWS and (Y > 0).any():
            alpha = alphas.defect.alpha if alphas and alphas.defect else None
            defect = self.ridge.fit(rows_d, Y, alpha=alpha)
        return HeadsFit(impression, defect)

    def values(self, fitted: HeadsFit, photos: np.ndarray) -> pd.DataFrame:
        """The learned features of ``photos`` (indices) from ``fitted`` (NaN where a photo
        has no stats)."""
        return self._frame(fitted, self.photo_row[np.asarray(photos, int)])

    def copy_values(self, fitted: HeadsFit) -> pd.DataFrame:
        """The learned features of every copy from ``fitted`` (NaN without stats)."""
        return self._frame(fitted, self.copy_row)

    def _frame(self, fitted: HeadsFit, rows: np.ndarray) -> pd.DataFrame:
        out = {}
        have = rows >= 0
        if fitted.impression is not None:
            values = np.full(len(rows), np.nan)
            if have.any():
                values[have] = self.ridge.predict(fitted.impression, rows[have])[:, 0]
            out[IMPRESSION_FEATURE] = values
        if fitted.defect is not None:
            losses = np.full((len(rows), len(DEFECT_CLASSES)), np.nan)
            if have.any():
                losses[have] = np.clip(self.ridge.predict(fitted.defect, rows[have]), 0.0, 1.0)
            for j, name in enumerate(DEFECT_CLASSES):
                out[DEFECT_FEATURES[name]] = losses[:, j]
        return pd.DataFrame(out, index=range(len(rows)))

    def out_of_fold(
        self, photos: np.ndarray, strata: np.ndarray, seed: int
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The learned features of ``photos`` (in their order) and of every copy (NaN for
        copies of other photos), each from heads fitted without that photo and its copies
        (stratified folds of the photos; the penalties chosen once on them all)."""
        from sklearn.model_selection import StratifiedKFold

        photos = np.asarray(photos, int)
        alphas = self.fit(photos)
        photo_values = self.values(alphas, photos) * np.nan
        copy_values = self.copy_values(alphas) * np.nan
        n_splits = min(self.folds, int(min(strata.sum(), (~strata).sum())))
        if n_splits < 2:
            return photo_values, copy_values
        splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
        for train, test in splitter.split(photos, strata):
            fitted = self.fit(photos[train], alphas)
            found = self.values(fitted, photos[test]).reindex(columns=photo_values.columns)
            photo_values.iloc[test] = found.to_numpy()
            copies = np.flatnonzero(np.isin(self.copy_source, photos[test]))
            if len(copies):
                found = self._frame(fitted, self.copy_row[copies])
                copy_values.iloc[copies] = found.reindex(columns=copy_values.columns).to_numpy()
        return photo_values, copy_values

    def in_fold(
        self,
        X_train: pd.DataFrame,
        X_test: pd.DataFrame,
        fold_extra: Augmented | None,
        labels: Labels,
        train_idx: np.ndarray,
        test_idx: np.ndarray,
        seed: int,
    ) -> tuple[pd.DataFrame, pd.DataFrame, Augmented | None]:
        """A cross-validation fold's tables with the learned features made from its
        training part alone: out of fold (inner folds) for the photos that train and their
        copies, from heads fitted on them all for the photos that test. (The heads of a
        fold are fitted once, however many times the fold is cross-validated.)"""
        key = (np.asarray(train_idx).tobytes(), np.asarray(test_idx).tobytes(), seed)
        if key not in self._in_fold:
            photos, copies = self.out_of_fold(train_idx, labels.is_good[train_idx], seed)
            fitted = self.fit(train_idx)
            test_values = self.values(fitted, test_idx).reindex(columns=photos.columns)
            self._in_fold[key] = (photos, copies, test_values)
        photos, copies, test_values = self._in_fold[key]
        X_train = pd.concat([X_train.reset_index(drop=True), photos], axis=1)
        X_test = pd.concat([X_test.reset_index(drop=True), test_values], axis=1)
        X_test.index = range(len(X_test))
        if fold_extra is not None and len(fold_extra):
            keep = np.isin(self.copy_source, train_idx)
            learned = copies[keep].reset_index(drop=True)
            fold_extra.X = pd.concat([fold_extra.X.reset_index(drop=True), learned], axis=1)
        return X_train, X_test, fold_extra

    def basis_record(self) -> dict[str, object]:
        """How the heads' basis was made, for the model's training record."""
        basis = self.ridge.basis
        return {
            "heads_basis_size": basis.size,
            "heads_basis_sample_rows": basis.sample_rows,
            "heads_basis_explained": round(basis.explained, 6),
        }

    def final(self, fitted: HeadsFit) -> NetworkHeads:
        """The fitted heads as a model folder keeps them (maps on raw stats)."""
        return NetworkHeads(
            self.models,
            self.width,
            self.ridge.primal(fitted.impression) if fitted.impression is not None else None,
            self.ridge.primal(fitted.defect) if fitted.defect is not None else None,
        )
