"""Train the good/bad classifier on hand labels (``photoqc train``).

1. Features for every labelled image, from the cache when the same file was measured with
   the same settings before, else computed (and cached).
2. Stratified k-fold cross-validation (good = target >= 0.5). In each fold the number of
   boosting rounds is chosen by an inner 4-fold cross-validation of the training part
   (never the test part), a model with that many rounds is fitted on the whole training
   part, and the test part is predicted: out-of-fold predictions for every image.
   ROC-AUC, PR-AUC, log loss and accuracy are computed per fold (mean and std reported)
   and over all out-of-fold predictions.
3. The decision threshold is the one maximising F1 of "good" on the out-of-fold
   predictions (photos with p_good >= threshold are published).
4. A final model on all images with the median best number of rounds of the folds.
5. The bundle: model, description, ROC and PR curves (PNG), out-of-fold predictions (CSV).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from photoqc.assess.extractor import EMBEDDINGS_KEY, STATS_KEY, STATUS_OK
from photoqc.assess.items import InputItem
from photoqc.assess.recipe import ExtractConfig
from photoqc.engines import Engine
from photoqc.errors import PhotoqcError
from photoqc.features import FeatureSpec
from photoqc.features.nima import (
    IMPRESSION_FEATURE,
    LEARNED_FEATURES,
    LEARNED_SPECS,
    READOUT_FEATURE,
    READOUT_SPEC,
)
from photoqc.models.bundle import ModelBundle, new_meta
from photoqc.models.classifier import GoodBadClassifier
from photoqc.models.heads import NetworkHeads
from photoqc.models.margin import BaseMargin
from photoqc.models.penalty import DefectPenalty
from photoqc.models.readout import EmbeddingReadout, embedding_matrix, out_of_fold
from photoqc.pipelines.batch.features import extract_rows
from photoqc.pipelines.training.augment import Augmented, augment
from photoqc.pipelines.training.cache import FeatureCache, compact_stats, file_sha256
from photoqc.pipelines.training.config import TrainConfig
from photoqc.pipelines.training.heads import TrainingHeads
from photoqc.pipelines.training.labels import Labels
from photoqc.pipelines.training.progress import Stages

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
"""(done, total) while features are computed."""
CACHE_BATCH = 64
"""Measured rows written to the feature cache at a time."""


class TrainingError(PhotoqcError):
    """The labelled photos cannot train a model (too few of one class)."""


@dataclass
class CVResult:
    """Out-of-fold predictions and the metrics computed from them."""

    oof: np.ndarray
    metrics: dict[str, float]
    fold_metrics: list[dict[str, float]]
    best_iterations: list[int]


@dataclass
class TrainOutcome:
    """What ``photoqc train`` produced."""

    bundle: ModelBundle
    cv: CVResult
    features: pd.DataFrame
    failed: list[tuple[str, str]] = field(default_factory=list)  # (image, error)
    from_cache: int = 0
    X: pd.DataFrame | None = None  # what the final model learnt from (the learned impression
    # out of fold), one row per readable labelled photo
    seconds: dict[str, float] = field(default_factory=dict)  # each stage's wall time


def extract_labelled(
    labels: Labels,
    config: ExtractConfig,
    *,
    cache: FeatureCache | None = None,
    engine: Engine | None = None,
    on_progress: ProgressCallback | None = None,
    embeddings: bool = False,
    stats: bool = False,
) -> tuple[pd.DataFrame, list[tuple[str, str]], int]:
    """Feature rows for the labelled images, in label order, using and filling the cache.

    Returns the table (one row per label, status ok or error; with ``embeddings``, a
    column :data:`EMBEDDINGS_KEY` of each photo's NIMA embeddings too, and with ``stats``
    a column :data:`STATS_KEY` of its networks' multi-level stats), the failures
    ``(image, error)``, and how many rows came from the cache.
    """
    fingerprint = config.fingerprint()
    hashes = [file_sha256(p) for p in labels.paths]
    keys = [FeatureCache.key(h, fingerprint) if h else None for h in hashes]
    cached = cache.get_many(k for k in keys if k) if cache else {}
    cached_stats = {}
    if cache and stats:  # one pass, a chunk of keys at a time (a cache may hold 100,000)
        cached_stats = {
            k: v for k, v in cache.iter_stats(k for k in keys if k in cached) if v is not None
        }
    rows: dict[int, dict[str, object]] = {}
    todo: list[int] = []
    for i, key in enumerate(keys):
        complete = (not embeddings or EMBEDDINGS_KEY in cached.get(key, {})) and (
            not stats or key in cached_stats
        )
        if key in cached and complete:
            rows[i] = {**cached[key], "image": labels.images[i]}
            if stats:
                rows[i][STATS_KEY] = compact_stats(cached_stats[key])
        else:
            todo.append(i)
    total, done = len(labels), len(rows)
    if on_progress:
        on_progress(done, total)

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if on_progress:
            on_progress(done, total)

    items = [InputItem(labels.images[i], labels.paths[i]) for i in todo]
    # Rows go into the cache as they come back, a batch at a time: an interrupted run
    # keeps what it measured, and the same command goes on from there.
    pending: list[tuple[int, dict[str, object]]] = []

    def keep(i: int, row: dict[str, object]) -> None:
        if row.get(STATS_KEY):  # as the cache keeps them (float16), fresh or cached alike
            row[STATS_KEY] = compact_stats(row[STATS_KEY])
        rows[i] = row
        if cache and row["status"] == STATUS_OK and keys[i]:
            pending.append((i, row))
            if len(pending) >= CACHE_BATCH:
                flush()

    def flush() -> None:
        if not pending:
            return
        cache.put_many(
            {keys[i]: {k: v for k, v in row.items() if k != STATS_KEY} for i, row in pending}
        )
        if stats:
            cache.put_stats({keys[i]: row[STATS_KEY] for i, row in pending if row.get(STATS_KEY)})
        pending.clear()

    positions = iter(todo)
    try:
        extract_rows(
            items,
            config,
            engine=engine,
            on_rows=advance,
            keep_embeddings=embeddings,
            keep_stats=stats,
            collect=lambda batch: [keep(next(positions), row) for row in batch],
        )
    finally:
        flush()
    columns = [
        *config.columns(),
        *([EMBEDDINGS_KEY] if embeddings else []),
        *([STATS_KEY] if stats else []),
    ]
    frame = pd.DataFrame([rows[i] for i in range(total)], columns=columns)
    failed = [
        (r["image"], r["error"]) for r in frame.to_dict("records") if r["status"] != STATUS_OK
    ]
    return frame, failed, total - len(todo)


def classification_metrics(
    is_good: np.ndarray, p_good: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision of "good"), log loss and accuracy at ``threshold``."""
    from sklearn.metrics import accuracy_score, average_precision_score, log_loss, roc_auc_score

    is_good = np.asarray(is_good, dtype=bool)
    p = np.clip(np.asarray(p_good, dtype=np.float64), 1e-7, 1 - 1e-7)
    both = 0 < is_good.sum() < len(is_good)
    return {
        "roc_auc": float(roc_auc_score(is_good, p)) if both else math.nan,
        "pr_auc": float(average_precision_score(is_good, p)) if both else math.nan,
        "log_loss": float(log_loss(is_good, p, labels=[False, True])),
        "accuracy": float(accuracy_score(is_good, p >= threshold)),
    }


def best_f1_threshold(is_good: np.ndarray, p_good: np.ndarray) -> float:
    """The p_good threshold with the highest F1 for "good" (ties: the higher threshold)."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(np.asarray(is_good, bool), p_good)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)[-1]
    return float(thresholds[best])


def model_specs(config: ExtractConfig) -> dict[str, FeatureSpec]:
    """The spec of every feature a model of ``config`` may use: the recipe's, the learned
    impression of an embedding read-out, and the network heads' learned features."""
    return {**config.specs(), READOUT_FEATURE: READOUT_SPEC, **LEARNED_SPECS}


def monotone_map(names: list[str], config: ExtractConfig, on: bool) -> dict[str, int] | None:
    """Each feature's monotone constraint by name (None when off)."""
    constraints = monotone_constraints(names, config, on)
    return dict(zip(names, constraints, strict=True)) if constraints is not None else None


def monotone_constraints(names: list[str], config: ExtractConfig, on: bool) -> list[int] | None:
    """LightGBM's monotone constraint of each feature, from its spec's direction."""
    if not on:
        return None
    specs = model_specs(config)
    return [specs[n].direction.monotone if n in specs else 0 for n in names]


def fit_rows(
    X: pd.DataFrame,
    target: np.ndarray,
    extra: Augmented | None,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The photos then their degraded copies, as (rows, targets, weights)."""
    if extra is None or not len(extra):
        return X, target, np.ones(len(X))
    return (
        pd.concat([X, extra.X[X.columns]], ignore_index=True),
        np.concatenate([target, extra.target]),
        np.concatenate([np.ones(len(X)), extra.weight]),
    )


def defect_directions(names: list[str], config: ExtractConfig) -> dict[str, int]:
    """The features a defect penalty may use, with their directions: those with one (more
    blur, noise, blocking, clipping, cast: never better) and the bounded ones (0: either
    side of good photos' range is worse), but no overall judgement (NIMA)."""
    specs = model_specs(config)
    return {
        n: specs[n].direction.monotone
        for n in names
        if n in specs
        and (specs[n].direction.monotone or specs[n].bounded)
        and not specs[n].last_resort
        and not specs[n].learned  # the base margin already weighs them
    }


def fit_classifier(
    X: pd.DataFrame,
    target: np.ndarray,
    soft: bool,
    config: TrainConfig,
    *,
    seed: int,
    monotone: list[int] | None = None,
    extra: Augmented | None = None,
    defects: dict[str, int] | None = None,
    rounds: int | None = None,
) -> GoodBadClassifier:
    """A classifier of the photos ``X``: trees on the photos alone, their number chosen by
    an inner cross-validation (or ``rounds``); then, with degraded copies ``extra``
    (sources indexed into ``X``), a penalty on the ``defects`` features fitted to the
    photos and their copies (:class:`photoqc.models.penalty.DefectPenalty`)."""
    model = GoodBadClassifier(
        soft=soft,
        n_estimators=config.n_estimators,
        early_stopping_rounds=config.early_stopping_rounds,
        random_state=seed,
        monotone=monotone,
    )
    model.base_ = fit_base_margin(X, target, extra)
    is_good = target >= 0.5
    if model.base_ is not None and config.corrections is False:
        # No corrections: one round that moves nothing keeps the model's form (a booster,
        # TreeSHAP) while the base margin and the penalty decide.
        model.set_params(n_estimators=1, params={"learning_rate": 1e-12}).fit(X, target)
    else:
        if rounds is None:
            if min(is_good.sum(), (~is_good).sum()) >= 2 * config.inner_folds:
                rounds = model.select_rounds(X, target, is_good, folds=config.inner_folds)
            else:  # too few photos for an inner cross-validation: a fixed, modest number
                rounds = min(config.n_estimators, 100)
        model.set_params(n_estimators=rounds).fit(X, target)
    if extra is not None and len(extra) and defects:
        rows, y, weight = fit_rows(X, target, extra)
        penalty = DefectPenalty.design(X[is_good], defects, config.penalty_from)
        model.penalty_ = penalty.fit(rows, model.raw_score(rows), y, weight)
    return model


def fit_base_margin(
    X: pd.DataFrame, target: np.ndarray, extra: Augmented | None
) -> BaseMargin | None:
    """The base margin on the network heads' features in ``X`` (None without any): the
    impression on the real photos alone, then the defect classes as hinges past the most
    any good photo shows, on the copies and their originals
    (:class:`photoqc.models.margin.BaseMargin`)."""
    learned = [n for n in LEARNED_FEATURES if n in X.columns and X[n].notna().any()]
    if not learned:
        return None
    signs = {n: LEARNED_SPECS[n].direction.monotone for n in learned}
    linear = [n for n in learned if n == IMPRESSION_FEATURE]
    hinged = [n for n in learned if n != IMPRESSION_FEATURE]
    with_copies = extra is not None and len(extra) and all(n in extra.X for n in hinged)
    originals = np.zeros(len(X), bool)
    if with_copies:
        originals[np.unique(extra.source)] = True
    return BaseMargin.fit(
        X,
        target,
        signs,
        linear=linear,
        hinged=hinged if with_copies else [],
        copies=extra.X if with_copies else None,
        copy_target=extra.target if with_copies else None,
        copy_weight=extra.weight if with_copies else None,
        originals=originals,
        good=np.asarray(target) >= 0.5,
    )


def cross_validate(
    X: pd.DataFrame,
    labels: Labels,
    config: TrainConfig,
    *,
    monotone: Mapping[str, int] | None = None,
    extra: Augmented | None = None,
    defects: dict[str, int] | None = None,
    readout: Readout | None = None,
    heads: TrainingHeads | None = None,
    stages: Stages | None = None,
    stage: str = "cross-validation",
) -> CVResult:
    """Stratified k-fold out-of-fold predictions of the labelled photos; rounds chosen by
    CV inside each fold; degraded copies (``extra``) train only in the folds where their
    source photo trains. With a ``readout`` or ``heads``, the learned features are made
    again in each fold from its training part alone: out of fold (inner folds) for the
    photos that train (and their copies), fitted on them for the photos that test.
    ``monotone`` maps feature names to their constraints (:func:`monotone_map`); the
    folds are reported to ``stages`` as the stage ``stage``."""
    from sklearn.model_selection import StratifiedKFold

    is_good = labels.is_good
    smallest = int(min(is_good.sum(), (~is_good).sum()))
    if smallest < 2:
        raise TrainingError(
            f"need at least 2 good and 2 bad photos to cross-validate; have {int(is_good.sum())} "
            f"good and {int((~is_good).sum())} bad"
        )
    n_splits = min(config.folds, smallest)
    if n_splits < config.folds:
        logger.warning(
            "only %d photos in the smaller class: %d folds instead of %d",
            smallest,
            n_splits,
            config.folds,
        )
    stages = stages or Stages()
    oof = np.full(len(X), np.nan)
    fold_metrics, best_iterations = [], []
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=config.seed)
    with stages.stage(stage, total=n_splits, unit="fold"):
        for fold, (train_idx, test_idx) in enumerate(splitter.split(X, is_good)):
            if fold:
                stages.advance()
            fold_extra = None
            if extra is not None and len(extra):
                fold_extra = extra.of(train_idx)
                # Sources renumbered to positions within the training part.
                position = {int(i): j for j, i in enumerate(train_idx)}
                fold_extra.source = np.array([position[int(i)] for i in fold_extra.source], int)
            X_train = X.iloc[train_idx].reset_index(drop=True)
            X_test = X.iloc[test_idx]
            if readout is not None:
                X_train, X_test, fold_extra = readout.in_fold(
                    X_train, X_test, fold_extra, labels, train_idx, test_idx, config.seed + fold
                )
            if heads is not None:
                X_train, X_test, fold_extra = heads.in_fold(
                    X_train, X_test, fold_extra, labels, train_idx, test_idx, config.seed + fold
                )
            model = fit_classifier(
                X_train,
                labels.target[train_idx],
                labels.soft,
                config,
                seed=config.seed + fold,
                monotone=[monotone.get(c, 0) for c in X_train.columns] if monotone else None,
                extra=fold_extra,
                defects=defects,
            )
            oof[test_idx] = model.predict_good(X_test)
            best_iterations.append(model.best_iteration_)
            stages.tick()
            fold_metrics.append(classification_metrics(is_good[test_idx], oof[test_idx]))
    metrics: dict[str, float] = {"folds": float(n_splits)}
    for name in ("roc_auc", "pr_auc", "log_loss", "accuracy"):
        values = np.array([m[name] for m in fold_metrics], dtype=np.float64)
        metrics[f"{name}_mean"] = float(np.nanmean(values))
        metrics[f"{name}_std"] = float(np.nanstd(values))
    for name, value in classification_metrics(is_good, oof).items():
        metrics[f"{name}_oof"] = value
    return CVResult(oof, metrics, fold_metrics, best_iterations)


@dataclass
class Readout:
    """The embeddings a read-out learns from: the photos' (rows of X) and their copies',
    and the NIMA models in the order they are joined."""

    embeddings: np.ndarray
    copies: np.ndarray | None
    models: tuple[str, ...]
    folds: int = 5

    @classmethod
    def of(
        cls, frame: pd.DataFrame, extra: Augmented | None, models: tuple[str, ...], folds: int
    ) -> Readout | None:
        """From feature tables with an :data:`EMBEDDINGS_KEY` column; None without NIMA."""
        if not models or EMBEDDINGS_KEY not in frame:
            return None
        first = next((e for e in frame[EMBEDDINGS_KEY] if isinstance(e, dict) and e), None)
        if first is None:
            return None
        width = sum(len(first[m]) for m in models if m in first)
        photos = embedding_matrix(list(frame[EMBEDDINGS_KEY]), models, width)
        copies = None
        if extra is not None and EMBEDDINGS_KEY in extra.X:
            copies = embedding_matrix(list(extra.X[EMBEDDINGS_KEY]), models, width)
        return cls(photos, copies, models, folds)

    def out_of_fold(self, rows: np.ndarray, labels: Labels, seed: int) -> np.ndarray:
        return out_of_fold(
            self.embeddings[rows],
            labels.target[rows],
            labels.is_good[rows],
            self.models,
            folds=self.folds,
            seed=seed,
        )

    def in_fold(self, X_train, X_test, fold_extra, labels, train_idx, test_idx, seed):
        """The fold's tables with the learned impression made from its training part."""
        fitted = EmbeddingReadout.fit(
            self.embeddings[train_idx], labels.target[train_idx], self.models
        )
        X_train = X_train.assign(**{READOUT_FEATURE: self.out_of_fold(train_idx, labels, seed)})
        test_values = fitted.predict(self.embeddings[test_idx]) if fitted else np.nan
        X_test = X_test.assign(**{READOUT_FEATURE: test_values})
        if fold_extra is not None and len(fold_extra) and fold_extra.embeddings is not None:
            values = fitted.predict(fold_extra.embeddings) if fitted else np.nan
            fold_extra.X = fold_extra.X.assign(**{READOUT_FEATURE: values})
        return X_train, X_test, fold_extra


GOOD_RANGE_PERCENTILES = (50, 10, 90)
"""What ``good_ranges`` keeps per feature: the median ("typical" in reasons) and the range
outside which a value is visibly off (10th to 90th percentile of good photos)."""


def good_ranges(X: pd.DataFrame, is_good: np.ndarray) -> dict[str, list[float]]:
    """Per feature, [median, 10th, 90th percentile] over the good photos (NaN-ignoring)."""
    good = X[np.asarray(is_good, bool)]
    return {
        name: (
            [float(v) for v in np.nanpercentile(good[name], GOOD_RANGE_PERCENTILES)]
            if good[name].notna().any()
            else [math.nan] * 3
        )
        for name in X.columns
    }


def save_curves(is_good: np.ndarray, p_good: np.ndarray, out_dir: Path) -> list[Path]:
    """ROC and precision-recall curves of the out-of-fold predictions, as PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from sklearn.metrics import PrecisionRecallDisplay, RocCurveDisplay

    paths = []
    for name, display in (("roc.png", RocCurveDisplay), ("pr.png", PrecisionRecallDisplay)):
        figure, axes = plt.subplots(figsize=(5, 5))
        display.from_predictions(is_good, p_good, ax=axes, name="out-of-fold", pos_label=True)
        axes.set_title(
            f"{'ROC' if name == 'roc.png' else 'Precision-recall'} of 'good', cross-validated"
        )
        figure.savefig(out_dir / name, dpi=100, bbox_inches="tight")
        plt.close(figure)
        paths.append(out_dir / name)
    return paths


@dataclass
class TrainingSet:
    """What a model learns from: the readable labelled photos, their features and their
    degraded copies, with what the learned features are made from.

    ``X`` holds the measured features (the learned ones are added out of fold by
    :meth:`learned_out_of_fold`); ``extra`` the copies, their rows in ``X``'s columns.
    """

    labels: Labels
    X: pd.DataFrame
    frame: pd.DataFrame
    extra: Augmented | None
    readout: Readout | None
    heads: TrainingHeads | None
    monotone: dict[str, int] | None
    defects: dict[str, int]
    config: ExtractConfig
    failed: list[tuple[str, str]] = field(default_factory=list)
    from_cache: int = 0

    def learned_out_of_fold(self, seed: int) -> tuple[pd.DataFrame, Augmented | None]:
        """``X`` and the copies with every learned feature added, each made without the
        photo it belongs to (and its copies)."""
        X, extra = self.X, self.extra
        everyone = np.arange(len(X))
        if extra is not None:
            extra = extra.of(np.arange(len(X)))  # a copy to add columns to
        if self.readout is not None:
            X = X.assign(**{READOUT_FEATURE: self.readout.out_of_fold(everyone, self.labels, seed)})
            if extra is not None and self.readout.copies is not None:
                fitted = EmbeddingReadout.fit(
                    self.readout.embeddings, self.labels.target, self.readout.models
                )
                extra.X = extra.X.assign(**{READOUT_FEATURE: fitted.predict(self.readout.copies)})
        if self.heads is not None:
            photos, copies = self.heads.out_of_fold(everyone, self.labels.is_good, seed)
            X = pd.concat([X.reset_index(drop=True), photos], axis=1)
            if extra is not None:
                extra.X = pd.concat([extra.X.reset_index(drop=True), copies], axis=1)
        return X, extra

    def constraints(self, names: list[str], on: bool) -> list[int] | None:
        return monotone_constraints(names, self.config, on)


@dataclass
class FittedModel:
    """A classifier with what makes its learned features: an embedding read-out and
    network heads (either may be None)."""

    classifier: GoodBadClassifier
    readout: EmbeddingReadout | None
    heads: NetworkHeads | None
    X: pd.DataFrame
    """What the classifier learnt from: the photos' features, the learned ones out of fold."""

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame``'s measured features with the learned ones added, made from its
        :data:`EMBEDDINGS_KEY` and :data:`STATS_KEY` columns."""
        X = frame.drop(columns=[c for c in (EMBEDDINGS_KEY, STATS_KEY) if c in frame])
        if self.readout is not None:
            matrix = self.readout.matrix(list(frame[EMBEDDINGS_KEY]))
            X = X.assign(**{READOUT_FEATURE: self.readout.predict(matrix)})
        if self.heads is not None:
            X = X.assign(**self.heads.features(self.heads.matrix(list(frame[STATS_KEY]))))
        return X

    def predict_good(self, frame: pd.DataFrame) -> np.ndarray:
        return self.classifier.predict_good(self.features(frame))


def prepare(
    labels: Labels,
    extract_config: ExtractConfig,
    config: TrainConfig,
    *,
    cache: FeatureCache | None = None,
    engine: Engine | None = None,
    on_progress: ProgressCallback | None = None,
    copies_dir: str | os.PathLike[str] | None = None,
    stages: Stages | None = None,
) -> TrainingSet:
    """Features of the labelled photos (and, with ``config.augment.copies``, of degraded
    copies of the good ones, made in ``copies_dir``), with the NIMA embeddings and stats
    the learned features need. ``stages`` hears where it is (:class:`Stages`)."""
    stages = stages or Stages()
    models = tuple(f.name for f in extract_config.nima)
    embeddings = bool(models) and config.readout
    stats = bool(models) and config.heads

    def measured(these: Labels, stage: str, tell: ProgressCallback | None = None):
        """``extract_labelled`` of ``these`` as the stage ``stage`` (``tell`` hears it too)."""

        def report(done: int, total: int) -> None:
            if tell:
                tell(done, total)
            stages.set_total(total)
            stages.advance(done - stages.done)

        with stages.stage(stage, total=len(these)):
            return extract_labelled(
                these,
                extract_config,
                cache=cache,
                engine=engine,
                on_progress=report,
                embeddings=embeddings,
                stats=stats,
            )

    frame, failed, from_cache = measured(labels, "features", on_progress)
    ok = (frame["status"] == STATUS_OK).to_numpy()
    if failed:
        logger.warning("%d labelled images could not be read and are left out", len(failed))
    kept = Labels(
        [labels.images[i] for i in np.flatnonzero(ok)],
        [labels.paths[i] for i in np.flatnonzero(ok)],
        labels.target[ok],
        labels.kind,
        labels.mos[ok] if labels.mos is not None else None,
    )
    all_names = list(extract_config.feature_names())
    features = frame.loc[ok, all_names].astype(np.float64).reset_index(drop=True)
    # A feature never measured in training (NIMA off, no segmenter) cannot be used.
    names = [n for n in all_names if features[n].notna().any()]
    extra = None
    if config.augment.copies:
        folder = (
            Path(copies_dir) if copies_dir else (cache.folder if cache else Path.cwd()) / "copies"
        )

        with stages.stage("copies", total=None):
            extra = augment(
                kept,
                config.augment,
                folder,
                lambda copy_labels: measured(copy_labels, "copies: features")[0],
                on_copy=lambda: stages.advance(),
            )
    photos = frame[ok].reset_index(drop=True)
    readout = Readout.of(photos, extra, models if embeddings else (), config.folds)
    if (
        readout is not None
        and EmbeddingReadout.fit(readout.embeddings, kept.target, models) is None
    ):
        readout = None
    heads = TrainingHeads.of(
        photos,
        kept,
        extra,
        models if stats else (),
        config.folds,
        stages=stages,
        basis_size=config.heads_basis,
    )
    # The heads hold the stats they need, projected; the d-wide stats can go.
    photos = photos.drop(columns=[STATS_KEY], errors="ignore")
    frame = frame.drop(columns=[STATS_KEY], errors="ignore")
    if extra is not None:
        extra.X = extra.X.drop(columns=[STATS_KEY], errors="ignore")
        extra.embeddings = readout.copies if readout is not None else None
        extra.X = extra.X[names].astype(np.float64)
    learned = [*([READOUT_FEATURE] if readout else []), *(heads_features(heads))]
    return TrainingSet(
        kept,
        features[names],
        frame,
        extra,
        readout,
        heads,
        monotone_map([*names, *learned], extract_config, config.monotone),
        defect_directions(names, extract_config),
        extract_config,
        failed,
        from_cache,
    )


def heads_features(heads: TrainingHeads | None) -> list[str]:
    """The learned features training heads add (none without heads)."""
    if heads is None:
        return []
    return list(LEARNED_FEATURES)


def fit_final(
    data: TrainingSet,
    config: TrainConfig,
    rounds: int | None = None,
    stages: Stages | None = None,
) -> FittedModel:
    """The model on every photo: learned features out of fold for the classifier, the
    read-out and the heads fitted on all photos (and copies) for scoring."""
    with (stages or Stages()).stage("final model", total=None):
        return _fit_final(data, config, rounds)


def _fit_final(data: TrainingSet, config: TrainConfig, rounds: int | None) -> FittedModel:
    X, extra = data.learned_out_of_fold(config.seed)
    X = X[[c for c in X.columns if X[c].notna().any()]]
    if extra is not None:
        extra.X = extra.X.reindex(columns=X.columns)
    monotone = data.constraints(list(X.columns), config.monotone)
    classifier = fit_classifier(
        X,
        data.labels.target,
        data.labels.soft,
        config,
        seed=config.seed,
        monotone=monotone,
        extra=extra,
        defects=data.defects,
        rounds=rounds,
    )
    readout = None
    if data.readout is not None:
        readout = EmbeddingReadout.fit(
            data.readout.embeddings, data.labels.target, data.readout.models
        )
    heads = None
    if data.heads is not None:
        heads = data.heads.final(data.heads.fit(np.arange(len(data.X))))
    return FittedModel(classifier, readout, heads, X)


def choose_corrections(
    data: TrainingSet, config: TrainConfig, stages: Stages | None = None
) -> tuple[TrainConfig, CVResult, str]:
    """Cross-validate, and with ``corrections="auto"`` and network heads, twice: with trees
    correcting the base margin and without; keep the one whose out-of-fold ROC-AUC is
    higher (a tie keeps the simpler). Returns the configuration chosen, its
    cross-validation, and the choice in words."""
    stages = stages or Stages()
    twice = config.corrections == "auto" and data.heads is not None

    def run(chosen: TrainConfig, name: str) -> CVResult:
        return cross_validate(
            data.X,
            data.labels,
            chosen,
            monotone=data.monotone,
            extra=data.extra,
            defects=data.defects,
            readout=data.readout,
            heads=data.heads,
            stages=stages,
            stage=name,
        )

    if not twice:
        return config, run(config, "cross-validation"), str(config.corrections)
    with_trees = run(replace(config, corrections=True), "cross-validation (with trees)")
    without = run(replace(config, corrections=False), "cross-validation (without trees)")
    scores = (with_trees.metrics["roc_auc_oof"], without.metrics["roc_auc_oof"])
    words = f"cross-validated ROC-AUC {scores[0]:.3f} with trees, {scores[1]:.3f} without"
    logger.info("corrections: %s", words)
    if scores[0] > scores[1]:
        return replace(config, corrections=True), with_trees, f"trees ({words})"
    return replace(config, corrections=False), without, f"none ({words})"


def train(
    labels: Labels,
    extract_config: ExtractConfig,
    out_dir: str | os.PathLike[str],
    config: TrainConfig | None = None,
    *,
    cache: FeatureCache | None = None,
    engine: Engine | None = None,
    on_progress: ProgressCallback | None = None,
    training_record: dict | None = None,
    copies_dir: str | os.PathLike[str] | None = None,
    stages: Stages | None = None,
) -> TrainOutcome:
    """Features, cross-validation, threshold, final model and bundle (see module docstring).

    With ``config.augment.copies``, degraded copies of the good photos are made in
    ``copies_dir`` (default: ``copies`` in the cache folder, else in ``out_dir``).
    ``stages`` hears where training is, and keeps each stage's time."""
    config = config or TrainConfig()
    stages = stages or Stages()
    out_dir = Path(out_dir)
    data = prepare(
        labels,
        extract_config,
        config,
        cache=cache,
        engine=engine,
        on_progress=on_progress,
        copies_dir=copies_dir or (None if cache else out_dir / "copies"),
        stages=stages,
    )
    kept = data.labels
    config, cv, choice = choose_corrections(data, config, stages)
    threshold = best_f1_threshold(kept.is_good, cv.oof)
    cv.metrics.update(
        {
            f"{k}_at_threshold": v
            for k, v in classification_metrics(kept.is_good, cv.oof, threshold).items()
            if k == "accuracy"
        }
    )
    rounds = max(1, int(np.median(cv.best_iterations)))
    fitted = fit_final(data, config, rounds, stages)
    final = fitted.classifier
    names = list(final.feature_names_in_)
    X = fitted.X
    extra = data.extra
    meta = new_meta(
        feature_names=names,
        feature_config=extract_config.record(),
        threshold=threshold,
        threshold_rule="maximum F1 of 'good' on out-of-fold predictions",
        cv_metrics=cv.metrics,
        good_ranges=good_ranges(X, kept.is_good),
        training={
            "images": len(kept),
            "good": int(kept.is_good.sum()),
            "bad": int((~kept.is_good).sum()),
            "left_out_unreadable": len(data.failed),
            "labels": kept.kind,
            "objective": final.objective,
            "rounds": rounds,
            "folds": int(cv.metrics["folds"]),
            "seed": config.seed,
            "degraded_copies": len(extra) if extra is not None else 0,
            "copy_weight": config.augment.weight if extra is not None else None,
            "corrections": choice,
            **(data.heads.basis_record() if data.heads is not None else {}),
            **(training_record or {}),
        },
        monotone_constraints=final.monotone,
        defect_penalty=final.penalty_.record() if final.penalty_ is not None else None,
        min_short_side=config.min_short_side,
        base_margin=final.base_.record() if final.base_ is not None else None,
    )
    readout = fitted.readout if READOUT_FEATURE in names else None
    heads = fitted.heads if any(n in names for n in LEARNED_FEATURES) else None
    bundle = ModelBundle(final.booster_, meta, readout=readout, heads=heads)
    with stages.stage("writing the model folder", total=None):
        hashes = [h for h in (file_sha256(p) for p in kept.paths) if h]
        bundle.save(out_dir, training_images=hashes)
        save_curves(kept.is_good, cv.oof, out_dir)
        oof = pd.DataFrame({"image": kept.images, "target": kept.target, "p_good_oof": cv.oof})
        if kept.mos is not None:
            oof["mos"] = kept.mos
        oof.to_csv(out_dir / "cv_predictions.csv", index=False)
    return TrainOutcome(
        bundle, cv, data.frame, data.failed, data.from_cache, X, dict(stages.seconds)
    )
