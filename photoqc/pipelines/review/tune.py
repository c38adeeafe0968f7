"""Choose the good/bad threshold from scored, hand-labelled photos, and store it in the model.

Used by ``photoqc tune`` and by ``notebooks/threshold_tuning.ipynb`` (which only calls
these functions and draws their results).

A photo is *accepted* (published) when ``p_good >= threshold``. For every candidate
threshold the table gives precision (share of accepted photos that are good), recall
(share of good photos accepted), F1, the counts of bad photos wrongly accepted and good
photos wrongly rejected, and their cost ``A x wrongly_accepted + R x wrongly_rejected``.
Two rules choose:

- **target precision P**: the lowest threshold whose precision is at least P, which
  accepts the most good photos while keeping P (None when no threshold reaches it);
- **minimum cost**: the threshold with the least total cost (ties: the higher threshold).

Writing a threshold into a model folder keeps every previous one, with its date and the
rule that chose it, in ``photoqc.json`` under ``threshold_history``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from photoqc.assess.extractor import STATUS_OK
from photoqc.errors import PhotoqcError, UsageError
from photoqc.models.bundle import ModelBundle, load_bundle
from photoqc.pipelines.batch.inputs import scored_image_paths
from photoqc.pipelines.training.cache import file_sha256
from photoqc.pipelines.training.labels import read_labels


class TuneError(PhotoqcError):
    """The scores and labels cannot be joined, or no threshold meets the rule."""


class TuneRuleError(UsageError):
    """No rule, or two, or one with impossible values (exit code 2)."""


RULE_NAMES = {
    "target_precision": "target_precision",
    "cost_accept_bad": "cost_accept_bad",
    "cost_reject_good": "cost_reject_good",
    "mos_threshold": "mos_threshold",
}
"""How errors name tuning's parameters; the CLI passes its flags, the notebook ``-p NAME``."""

OOF_COLUMN = "p_good_oof"
"""The column of a model's ``cv_predictions.csv``: each training photo's p_good from the
cross-validation fold that did not train on it (honest to tune on)."""


@dataclass(frozen=True)
class TuneRule:
    """How to choose the threshold: a target precision, or the two costs."""

    target_precision: float | None = None
    cost_accept_bad: float = 1.0
    cost_reject_good: float = 1.0


def _given(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def check_rule(
    target_precision: float | None = None,
    cost_accept_bad: float | None = None,
    cost_reject_good: float | None = None,
    *,
    names: Mapping[str, str] = RULE_NAMES,
) -> TuneRule:
    """The rule given: a target precision in (0, 1], or both costs (finite, >= 0, not
    both 0), never both rules.

    Raises
    ------
    TuneRuleError
        Neither rule, both, or impossible values; the message spells the parameters as
        ``names`` says (flags for the CLI, parameters for the notebook).
    """
    precision, bad, good = (
        _given(v) for v in (target_precision, cost_accept_bad, cost_reject_good)
    )
    either = (
        f"give either {names['target_precision']} P, or both {names['cost_accept_bad']} A "
        f"and {names['cost_reject_good']} R"
    )
    if precision == (bad and good) or (not precision and bad != good):
        raise TuneRuleError(either)
    if precision:
        if not 0 < float(target_precision) <= 1:  # type: ignore[arg-type]
            raise TuneRuleError(
                f"{names['target_precision']} must be in (0, 1], got {target_precision}"
            )
        return TuneRule(target_precision=float(target_precision))  # type: ignore[arg-type]
    costs = (float(cost_accept_bad), float(cost_reject_good))  # type: ignore[arg-type]
    if not all(math.isfinite(c) and c >= 0 for c in costs) or not any(costs):
        raise TuneRuleError(
            f"{names['cost_accept_bad']} and {names['cost_reject_good']} must be numbers >= 0, "
            f"not both 0 (got {costs[0]:g} and {costs[1]:g})"
        )
    return TuneRule(cost_accept_bad=costs[0], cost_reject_good=costs[1])


def is_out_of_fold(scores_csv: str | os.PathLike[str]) -> bool:
    """Whether ``scores_csv`` is a model's own ``cv_predictions.csv`` (out-of-fold p_good)."""
    header = pd.read_csv(scores_csv, nrows=0).columns
    return OOF_COLUMN in header and "p_good" not in header


def join_scores_labels(
    scores_csv: str | os.PathLike[str],
    labels_csv: str | os.PathLike[str],
    *,
    mos_threshold: float | None = None,
    names: Mapping[str, str] = RULE_NAMES,
) -> pd.DataFrame:
    """Scored photos that have a label: columns ``image, p_good, target, is_good, path``
    (``path``: the labelled file).

    The scores are a scores CSV (``photoqc score``), or a model's ``cv_predictions.csv``
    (its out-of-fold ``p_good_oof``: the honest way to tune a model on its own training
    labels). Rows are matched on the ``image`` value; where that fails, on the resolved
    file path (labels relative to their CSV, scores relative to the working folder or
    their CSV). Rows with ``status=error`` are left out.
    """
    scores_csv, labels_csv = Path(scores_csv), Path(labels_csv)
    scores = pd.read_csv(scores_csv, keep_default_na=False, na_values=[""], dtype={"image": str})
    if OOF_COLUMN in scores.columns and "p_good" not in scores.columns:
        scores = scores.rename(columns={OOF_COLUMN: "p_good"}).assign(status=STATUS_OK)
    if not {"image", "p_good", "status"} <= set(scores.columns):
        raise TuneError(
            f"{scores_csv}: not a scores CSV (needs image, status, p_good) nor a model's "
            f"cv_predictions.csv (image, {OOF_COLUMN})"
        )
    scores = scores[scores["status"] == STATUS_OK]
    labels = read_labels(labels_csv, mos_threshold=mos_threshold, check_files=False, names=names)
    by_name = {name: i for i, name in enumerate(labels.images)}
    by_path = {str(Path(os.path.abspath(p))): i for i, p in enumerate(labels.paths)}
    rows = []
    for image, p_good in zip(scores["image"], scores["p_good"], strict=True):
        i = by_name.get(image)
        if i is None:
            i = next(
                (
                    by_path[str(p)]
                    for p in scored_image_paths(image, scores_csv)
                    if str(p) in by_path
                ),
                None,
            )
        if i is not None:
            target = float(labels.target[i])
            rows.append(
                {
                    "image": image,
                    "p_good": float(p_good),
                    "target": target,
                    "is_good": target >= 0.5,
                    "path": str(labels.paths[i]),
                }
            )
    if not rows:
        raise TuneError(f"no scored photo of {scores_csv} has a label in {labels_csv}")
    joined = pd.DataFrame(rows).drop_duplicates("image")
    if joined["is_good"].nunique() < 2:
        raise TuneError("the labelled photos are all good or all bad: a threshold cannot be tuned")
    return joined.reset_index(drop=True)


def threshold_table(
    is_good: np.ndarray,
    p_good: np.ndarray,
    *,
    cost_accept_bad: float = 1.0,
    cost_reject_good: float = 1.0,
) -> pd.DataFrame:
    """Every candidate threshold with precision, recall, F1, error counts and cost.

    Candidates are the distinct ``p_good`` values (each one the lowest p_good accepted),
    plus one above them all (accept nothing).
    """
    is_good = np.asarray(is_good, dtype=bool)
    p_good = np.asarray(p_good, dtype=np.float64)
    thresholds = np.unique(np.concatenate([p_good, [np.nextafter(p_good.max(), np.inf)]]))
    accepted = p_good[None, :] >= thresholds[:, None]
    tp = (accepted & is_good).sum(axis=1)
    fp = (accepted & ~is_good).sum(axis=1)
    fn = (~accepted & is_good).sum(axis=1)
    n_accepted = accepted.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(n_accepted > 0, tp / np.maximum(n_accepted, 1), np.nan)
        recall = tp / max(int(is_good.sum()), 1)
        f1 = np.where(tp > 0, 2 * tp / (n_accepted + is_good.sum()), 0.0)
    cost = cost_accept_bad * fp + cost_reject_good * fn
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "accepted": n_accepted,
            "wrongly_accepted": fp,
            "wrongly_rejected": fn,
            "cost": cost,
            "cost_per_photo": cost / len(p_good),
        }
    )


def choose_by_target_precision(table: pd.DataFrame, target: float) -> pd.Series:
    """The lowest threshold with precision >= ``target`` (most good photos accepted)."""
    if not 0 < target <= 1:
        raise TuneError(f"target precision must be in (0, 1], got {target}")
    ok = table[table["precision"] >= target - 1e-12]
    if ok.empty:
        best = table["precision"].max()
        raise TuneError(f"no threshold reaches precision {target:.3f} (best is {best:.3f})")
    return ok.sort_values("threshold").iloc[0]


def choose_by_min_cost(table: pd.DataFrame) -> pd.Series:
    """The threshold with the least total cost (ties: the highest such threshold)."""
    least = table["cost"].min()
    return table[table["cost"] <= least + 1e-12].sort_values("threshold").iloc[-1]


@dataclass(frozen=True)
class TuneChoice:
    """A chosen threshold, the rule that chose it, and its row of the table."""

    threshold: float
    rule: str
    row: pd.Series


def choose(table: pd.DataFrame, rule: TuneRule) -> TuneChoice:
    """Apply the target-precision rule if the rule has a target, else the minimum-cost rule."""
    if rule.target_precision is not None:
        row = choose_by_target_precision(table, rule.target_precision)
        return TuneChoice(
            float(row["threshold"]), f"target precision {rule.target_precision:g}", row
        )
    row = choose_by_min_cost(table)
    words = (
        f"minimum cost (wrongly accepted bad photo {rule.cost_accept_bad:g}, "
        f"wrongly rejected good {rule.cost_reject_good:g})"
    )
    return TuneChoice(float(row["threshold"]), words, row)


def tune(
    scores_csv: str | os.PathLike[str],
    labels_csv: str | os.PathLike[str],
    *,
    target_precision: float | None = None,
    cost_accept_bad: float | None = None,
    cost_reject_good: float | None = None,
    mos_threshold: float | None = None,
    model: ModelBundle | None = None,
    names: Mapping[str, str] = RULE_NAMES,
) -> tuple[pd.DataFrame, pd.DataFrame, TuneChoice]:
    """Join, tabulate and choose: (joined photos, threshold table, choice).

    The rule is a ``target_precision``, or both costs (see :func:`check_rule`, which
    refuses anything else before any file is read). MOS labels turn good at
    ``mos_threshold``, by default the one the ``model`` was trained with.
    """
    rule = check_rule(target_precision, cost_accept_bad, cost_reject_good, names=names)
    if mos_threshold is None and model is not None:
        mos_threshold = model.mos_threshold
    joined = join_scores_labels(scores_csv, labels_csv, mos_threshold=mos_threshold, names=names)
    table = threshold_table(
        joined["is_good"],
        joined["p_good"],
        cost_accept_bad=rule.cost_accept_bad,
        cost_reject_good=rule.cost_reject_good,
    )
    return joined, table, choose(table, rule)


def scores_model_warning(scores_csv: str | os.PathLike[str], bundle: ModelBundle) -> str | None:
    """A warning when the scores were not made by ``bundle`` (its ``model_sha256``): a
    threshold tuned on another model's p_good would not mean the same for this one."""
    try:
        shas = pd.read_csv(scores_csv, usecols=["model_sha256"], dtype=str)["model_sha256"]
    except (ValueError, KeyError):
        return f"{scores_csv} does not say which model scored it; tune on this model's scores"
    others = sorted({s for s in shas.dropna() if s != bundle.sha256})
    if others:
        return (
            f"{scores_csv} was scored by another model (sha256 {others[0][:12]}...), not "
            f"{bundle.path} ({bundle.sha256[:12]}...): the threshold would not mean the same"
        )
    return None


def tuning_warnings(
    scores_csv: str | os.PathLike[str], joined: pd.DataFrame, bundle: ModelBundle
) -> list[str]:
    """What makes a threshold tuned on ``joined`` (from :func:`join_scores_labels`) less
    than honest for ``bundle``: scores of another model, and labelled photos the model was
    trained on (their p_good is optimistic; the model's out-of-fold ``cv_predictions.csv``
    is not)."""
    if is_out_of_fold(scores_csv):
        own = (
            bundle.path is not None
            and Path(scores_csv).resolve() == (bundle.path / "cv_predictions.csv").resolve()
        )
        return (
            []
            if own
            else [
                f"{scores_csv} is not the cv_predictions.csv of {bundle.path}: out-of-fold "
                "predictions are honest only for the model that made them"
            ]
        )
    found = [w for w in [scores_model_warning(scores_csv, bundle)] if w]
    trained = bundle.training_images()
    if trained:
        hashes = (file_sha256(p) for p in joined["path"])
        seen = sum(h in trained for h in hashes if h)
        if seen:
            oof = bundle.path / "cv_predictions.csv" if bundle.path else None
            instead = (
                f"the model's out-of-fold predictions instead ({oof} as the scores), or on "
                "photos it never saw"
                if oof is not None and oof.is_file()
                else "photos it never saw instead"
            )
            found.append(
                f"{seen} of the {len(joined)} labelled photos in {scores_csv} are photos the "
                "model was trained on: their p_good is optimistic, and so would be a threshold "
                f"tuned on them. Tune on {instead}"
            )
    return found


def write_threshold(
    model_dir: str | os.PathLike[str], threshold: float, rule: str, *, n_photos: int | None = None
) -> dict:
    """Set the model's threshold; the previous one moves to ``threshold_history``."""
    if not 0 < threshold < 1:
        raise TuneError(f"threshold must be strictly between 0 and 1, got {threshold}")
    bundle = load_bundle(model_dir)
    bundle.set_threshold(
        threshold, rule + (f", tuned on {n_photos} labelled photos" if n_photos else "")
    )
    return bundle.meta


def write_min_short_side(model_dir: str | os.PathLike[str], pixels: int) -> dict:
    """Set the smallest short side (pixels) a photo may have to be published."""
    if pixels < 0:
        raise TuneError(f"the minimum short side must be >= 0 pixels, got {pixels}")
    bundle = load_bundle(model_dir)
    bundle.set_min_short_side(pixels)
    return bundle.meta


def summary_rows(table: pd.DataFrame, chosen: float, step: float = 0.1) -> pd.DataFrame:
    """A readable subset of the table: about every ``step`` in threshold, plus the chosen row."""
    marks = np.arange(0.0, 1.0 + 1e-9, step)
    picks = {int(np.argmin(np.abs(table["threshold"].to_numpy() - m))) for m in marks}
    picks.add(int(np.argmin(np.abs(table["threshold"].to_numpy() - chosen))))
    return table.iloc[sorted(picks)]
