"""Figures for threshold tuning (used by ``notebooks/threshold_tuning.ipynb``).

Each function takes the joined photos (``image, p_good, is_good``) and/or the threshold
table of :mod:`photoqc.pipelines.review.tune` and returns a matplotlib figure.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay


def roc_and_pr(joined: pd.DataFrame) -> plt.Figure:
    """ROC and precision-recall curves of "good"."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
    RocCurveDisplay.from_predictions(joined["is_good"], joined["p_good"], ax=left, name="p_good")
    PrecisionRecallDisplay.from_predictions(
        joined["is_good"], joined["p_good"], ax=right, name="p_good"
    )
    left.set_title("ROC")
    right.set_title("Precision-recall (good = positive)")
    figure.tight_layout()
    return figure


def _against_threshold(
    table: pd.DataFrame, chosen: float, columns: tuple[str, ...], ylabel: str | None = None
) -> plt.Figure:
    """``columns`` of the threshold table against the threshold, the chosen one marked."""
    figure, axes = plt.subplots(figsize=(7, 4))
    for name in columns:
        axes.plot(table["threshold"], table[name], label=name)
    axes.axvline(chosen, color="k", linestyle="--", label=f"chosen {chosen:.3f}")
    axes.set_xlabel("threshold on p_good")
    if ylabel:
        axes.set_ylabel(ylabel)
    axes.legend()
    return figure


def metrics_by_threshold(table: pd.DataFrame, chosen: float) -> plt.Figure:
    """Precision, recall and F1 against the threshold, chosen threshold marked."""
    figure = _against_threshold(table, chosen, ("precision", "recall", "f1"))
    figure.axes[0].set_ylim(0, 1.02)
    return figure


def cost_by_threshold(table: pd.DataFrame, chosen: float) -> plt.Figure:
    """Expected cost per photo against the threshold."""
    return _against_threshold(table, chosen, ("cost_per_photo",), "expected cost per photo")


def confusion_at(joined: pd.DataFrame, threshold: float) -> plt.Figure:
    """Confusion matrix of truth against verdict at ``threshold``."""
    figure, axes = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay.from_predictions(
        np.where(joined["is_good"], "good", "bad"),
        np.where(joined["p_good"] >= threshold, "good", "bad"),
        labels=["good", "bad"],
        ax=axes,
        colorbar=False,
    )
    axes.set_xlabel("verdict")
    axes.set_ylabel("hand label")
    axes.set_title(f"threshold {threshold:.3f}")
    return figure


def p_good_histograms(joined: pd.DataFrame, threshold: float) -> plt.Figure:
    """Histograms of p_good for hand-labelled good and bad photos."""
    figure, axes = plt.subplots(figsize=(7, 4))
    bins = np.linspace(0, 1, 26)
    axes.hist(joined.loc[joined["is_good"], "p_good"], bins=bins, alpha=0.6, label="labelled good")
    axes.hist(joined.loc[~joined["is_good"], "p_good"], bins=bins, alpha=0.6, label="labelled bad")
    axes.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.3f}")
    axes.set_xlabel("p_good")
    axes.legend()
    return figure
