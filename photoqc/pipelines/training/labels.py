"""Read hand labels for training: a CSV with ``image`` and one kind of label.

Kinds (the first present wins, in this order):

- ``label``: good/bad, 1/0, true/false, yes/no (any case) -> hard target 1.0 / 0.0, trained
  with LightGBM's binary objective;
- ``votes_good`` + ``votes_total``: k of n raters said good (as OLX had 5 raters) -> soft
  target k / n, trained with LightGBM's cross-entropy objective;
- ``mos`` with a threshold T: soft target ``sigmoid((mos - T) / s)`` (TripAdvisor's soft
  target around their acceptable/unacceptable line), or with ``--mos-target linear`` the
  straight line ``0.5 + (mos - T) / (2 s)`` clipped to 0–1 (with T = 50 and s = 50, MOS /
  100), which keeps apart photos a sigmoid flattens at both ends; cross-entropy objective.

Image paths are relative to the CSV's folder (or absolute). Every malformed row is reported
at once, with its line number, before any image is read.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from photoqc.errors import PhotoqcError

GOOD_WORDS = frozenset({"good", "1", "true", "yes", "ok", "accept", "accepted"})
BAD_WORDS = frozenset({"bad", "0", "false", "no", "reject", "rejected"})
DEFAULT_MOS_SCALE = 10.0
"""Default ``s`` of the MOS sigmoid, in MOS units: 10 points on a 0–100 scale takes the
target from 0.27 to 0.73 across T - 10 .. T + 10, so a photo just past the threshold counts
as barely good. On clive-dev (5 x 5-fold, seeds 10-14) s = 10 beat 5, 7.5 and 15 without
NIMA (ROC-AUC 0.862 vs 0.860, 0.861, 0.860); with NIMA 5 < 7.5 < 10 < 15 (0.891..0.894)."""


class LabelsError(PhotoqcError):
    """The labels CSV cannot be used; the message lists every problem with its line."""


@dataclass(frozen=True)
class Labels:
    """Images with training targets.

    Attributes
    ----------
    images : list of str
        The CSV's ``image`` values (the key joined with feature and score tables).
    paths : list of Path
        Where to read each image.
    target : ndarray of float, 0–1
        Probability that the photo is good (hard labels are 0 or 1).
    kind : {"label", "votes", "mos"}
    soft : bool
        True when targets are probabilities (votes, MOS): train with cross-entropy.
    mos : ndarray or None
        The raw MOS, when the labels were MOS.
    """

    images: list[str]
    paths: list[Path]
    target: np.ndarray
    kind: str
    mos: np.ndarray | None = None

    @property
    def soft(self) -> bool:
        return self.kind != "label"

    @property
    def is_good(self) -> np.ndarray:
        """Hard truth for metrics: target >= 0.5."""
        return self.target >= 0.5

    def __len__(self) -> int:
        return len(self.images)


def problem_report(source: str | os.PathLike[str], problems: list[str], shown: int = 50) -> str:
    """One message listing ``problems`` (the first ``shown`` of them) for ``source``."""
    listed = "\n  ".join(problems[:shown])
    more = f"\n  ... and {len(problems) - shown} more" if len(problems) > shown else ""
    return f"{source}: {len(problems)} problem(s):\n  {listed}{more}"


MOS_TARGETS = ("sigmoid", "linear")
"""How a MOS becomes a soft target (see the module docstring)."""


def linear_target(mos: np.ndarray, threshold: float, scale: float) -> np.ndarray:
    """``0.5 + (mos - threshold) / (2 scale)`` clipped to 0–1: soft probability of "good"."""
    return np.clip(0.5 + (np.asarray(mos, dtype=np.float64) - threshold) / (2 * scale), 0, 1)


def sigmoid_target(
    mos: np.ndarray, threshold: float, scale: float = DEFAULT_MOS_SCALE
) -> np.ndarray:
    """``1 / (1 + exp(-(mos - threshold) / scale))``: soft probability of "good", 0–1."""
    return 1.0 / (1.0 + np.exp(-(np.asarray(mos, dtype=np.float64) - threshold) / scale))


def read_labels(
    csv_path: str | os.PathLike[str],
    *,
    mos_threshold: float | None = None,
    mos_scale: float = DEFAULT_MOS_SCALE,
    check_files: bool = True,
    mos_target: str = "sigmoid",
    names: Mapping[str, str] | None = None,
) -> Labels:
    """Parse a labels CSV (see the module docstring). ``names`` says how a message names
    the ``mos_threshold`` parameter (default: the CLI's ``--mos-threshold``).

    Raises
    ------
    LabelsError
        Listing every malformed row (missing file, unknown label, votes_good > votes_total,
        non-numeric values, duplicate image) with its line number, or a missing column.
    """
    csv_path = Path(csv_path)
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError, UnicodeDecodeError) as exc:
        raise LabelsError(f"{csv_path}: not a readable CSV ({exc})") from None
    columns = {c.strip().lower(): c for c in table.columns}
    if "image" not in columns:
        raise LabelsError(f"{csv_path}: no 'image' column (columns: {', '.join(table.columns)})")
    if "label" in columns:
        kind = "label"
    elif "votes_good" in columns and "votes_total" in columns:
        kind = "votes"
    elif "mos" in columns:
        kind = "mos"
        if mos_threshold is None:
            raise LabelsError(
                f"{csv_path}: labels are MOS; give the good/bad line with "
                f"{(names or {}).get('mos_threshold', '--mos-threshold')} (e.g. 50)"
            )
    else:
        raise LabelsError(
            f"{csv_path}: needs a 'label' column, 'votes_good' + 'votes_total', or 'mos' "
            f"(columns: {', '.join(table.columns)})"
        )
    if not math.isfinite(mos_scale) or mos_scale <= 0:
        raise LabelsError(f"--mos-scale must be > 0, got {mos_scale}")
    if mos_target not in MOS_TARGETS:
        raise LabelsError(f"--mos-target must be one of {', '.join(MOS_TARGETS)}")

    problems: list[str] = []
    images: list[str] = []
    paths: list[Path] = []
    targets: list[float] = []
    mos_values: list[float] = []
    seen: dict[str, int] = {}
    for i, record in enumerate(table.to_dict("records")):
        line = i + 2
        image = str(record[columns["image"]]).strip()
        if not image:
            problems.append(f"line {line}: empty image path")
            continue
        if image in seen:
            problems.append(f"line {line}: {image} already labelled on line {seen[image]}")
            continue
        seen[image] = line
        path = Path(image) if Path(image).is_absolute() else csv_path.parent / image
        if check_files and not path.is_file():
            problems.append(f"line {line}: file not found: {path}")
        target, problem = _target(kind, record, columns, mos_threshold, mos_scale, mos_target)
        if problem:
            problems.append(f"line {line}: {problem}")
            continue
        images.append(image)
        paths.append(path)
        targets.append(target)
        if kind == "mos":
            mos_values.append(float(record[columns["mos"]]))
    if not len(table):
        problems.append("no rows")
    if problems:
        raise LabelsError(problem_report(csv_path, problems))
    return Labels(
        images,
        paths,
        np.array(targets, dtype=np.float64),
        kind,
        np.array(mos_values) if kind == "mos" else None,
    )


def _target(
    kind, record, columns, mos_threshold, mos_scale, mos_target
) -> tuple[float, str | None]:
    if kind == "label":
        raw = str(record[columns["label"]]).strip()
        word = raw.lower()
        if word in GOOD_WORDS:
            return 1.0, None
        if word in BAD_WORDS:
            return 0.0, None
        return math.nan, f"unknown label {raw!r} (use good/bad, 1/0, true/false)"
    if kind == "votes":
        try:
            good = float(record[columns["votes_good"]])
            total = float(record[columns["votes_total"]])
        except ValueError:
            return math.nan, "votes_good and votes_total must be numbers"
        if not (math.isfinite(good) and math.isfinite(total)) or good < 0 or total <= 0:
            return (
                math.nan,
                f"votes must be votes_good >= 0 and votes_total > 0 (got {good:g}/{total:g})",
            )
        if good > total:
            return math.nan, f"votes_good {good:g} > votes_total {total:g}"
        return good / total, None
    try:
        mos = float(record[columns["mos"]])
    except ValueError:
        return math.nan, f"mos {record[columns['mos']]!r} is not a number"
    if not math.isfinite(mos):
        return math.nan, "mos is missing"
    shape = linear_target if mos_target == "linear" else sigmoid_target
    return float(shape(mos, mos_threshold, mos_scale)), None
