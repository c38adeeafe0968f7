"""Choosing each listing's cover photo from its photos' scores (pure: tables in, tables out).

The rules, in order (documented in the README):

1. **Technical quality is a gate.** Photos that could be judged come before error rows;
   among them, distinct photos before near-duplicates of a better one (a duplicate never
   takes a place ahead of a distinct photo); then ``good`` verdicts before ``bad`` ones.
2. **Aesthetics orders what passes.** Within each of those classes, a higher
   :func:`cover_score` first: the model's p_good and people's overall impression as the
   model learnt it from NIMA's embeddings (or NIMA's aesthetic score), half and half.
3. **Ties** go to the image name, then to the input order: the same rows always give the
   same ranks.

Near-duplicates are found within a group by perceptual hash
(:mod:`photoqc.perceptual_hash`): walking the photos best first, a photo within
:data:`~photoqc.perceptual_hash.DUPLICATE_DISTANCE` bits of one already kept is marked
``duplicate_of`` that one, the better-ranked original.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from photoqc.features.nima import IMPRESSION_FEATURE, READOUT_FEATURE
from photoqc.perceptual_hash import DUPLICATE_DISTANCE, FLAT, parse_hashes, photo_distance

if TYPE_CHECKING:
    from photoqc.assess.items import InputItem
    from photoqc.assess.scorer import Scorer

IMPRESSION_WEIGHT = 0.5
"""Share of the cover score that is the learned impression (``nima_embedding_quality``,
people's overall impression read out of NIMA's embeddings) where the model has one."""

AESTHETIC_WEIGHT = 0.25
"""Share of the cover score that is NIMA's aesthetic score, for a model without the
learned impression."""

AESTHETIC_RANGE = (3.0, 7.0)
"""NIMA aesthetic means mapped linearly onto 0–1 for the cover score (clipped): nearly
every photo people rate lies between them on NIMA's 1–10 scale."""

NO_PUBLISHABLE = "no publishable photo: ask the seller for a new one"

RANK_COLUMNS = (
    "rank",
    "is_cover",
    "cover_score",
    "p_good",
    "verdict",
    "reasons",
    "why",
    "duplicate_of",
    "status",
    "error",
)
"""The columns of a ranked table after the group column and ``image``."""

ASPECTS = (
    # (words for the best, column, higher is better)
    ("best-lit", "exposure_fault", False),
    ("sharpest", "sharpness_laplacian", True),
    ("most attractive", "nima_aesthetic_mean", True),
)
"""What ``why`` may say a cover leads the other good photos on."""

EXPOSURE_FAULTS = (
    "underexposure",
    "overexposure",
    "clipped_white_fraction",
    "clipped_black_fraction",
)
"""Columns summed into how badly lit a photo is, for "best-lit" (each 0–1, higher worse)."""


def cover_score(
    p_good: np.ndarray, impression: np.ndarray, aesthetic_mean: np.ndarray
) -> np.ndarray:
    """How strongly each photo should lead its listing, 0–1 (NaN where p_good is NaN).

    ``0.5 x p_good + 0.5 x impression`` (the learned impression, clipped to 0–1) where the
    model has the impression; else ``0.75 x p_good + 0.25 x aesthetic`` (NIMA's aesthetic
    mean mapped from :data:`AESTHETIC_RANGE` onto 0–1); else p_good alone (no NIMA).

    The weights were chosen on the 400 clive-dev photos outside the lockbox (out-of-fold
    p_good, 2,000 random listings of 6): p_good alone puts the photo people like best among
    the first two 72.8 % of the time, with the aesthetic score (0.75 / 0.25) 75.2 %, with
    the impression (0.5 / 0.5) 75.6 %, NIMA's aesthetic score alone 65.2 %.
    """
    p = np.asarray(p_good, dtype=float)
    learned = np.clip(np.asarray(impression, dtype=float), 0.0, 1.0)
    low, high = AESTHETIC_RANGE
    a = np.clip((np.asarray(aesthetic_mean, dtype=float) - low) / (high - low), 0.0, 1.0)
    with_aesthetic = np.where(np.isnan(a), p, (1 - AESTHETIC_WEIGHT) * p + AESTHETIC_WEIGHT * a)
    return np.where(
        np.isnan(learned), with_aesthetic, (1 - IMPRESSION_WEIGHT) * p + IMPRESSION_WEIGHT * learned
    )


@dataclass
class RankSummary:
    """What a ranking found: ``groups`` ranked, the group names with no publishable photo,
    ``duplicates`` flagged, ``photos`` in all, ``errors`` among them, and ``plain`` photos
    too plain to compare for near-duplicates (a flat colour, a blank frame)."""

    groups: int = 0
    photos: int = 0
    errors: int = 0
    duplicates: int = 0
    unpublishable: list[str] = field(default_factory=list)
    plain: int = 0


def rank_groups(
    scores: pd.DataFrame,
    group_by: str,
    *,
    hashes_of: Callable[[pd.Series], Sequence[tuple[int, ...] | None]] | None = None,
    distance: int = DUPLICATE_DISTANCE,
) -> tuple[pd.DataFrame, RankSummary]:
    """Rank the photos of every group of a scores table.

    Parameters
    ----------
    scores : DataFrame
        One row per photo: ``image``, the group column, ``status``, ``error``, ``p_good``,
        ``verdict``, ``reasons`` and, when present, ``phash`` and the feature columns
        ``why`` draws on.
    group_by : str
        The column that says which photos belong together (e.g. ``listing_id``).
    hashes_of : callable, optional
        Perceptual hashes for rows whose ``phash`` cell is empty (given the rows; None
        where a photo has none): a table scored before hashes were written.
    distance : int
        Hamming distance at or under which two photos are near-duplicates.

    Returns
    -------
    ranked : DataFrame
        The group column, ``image`` and :data:`RANK_COLUMNS`, one row per input row,
        groups in the order they first appear, each group's photos in rank order.
    summary : RankSummary
    """
    frame = scores.reset_index(drop=True).copy()
    frame["_order"] = np.arange(len(frame))
    frame[group_by] = frame[group_by].fillna("").astype(str)
    for column in ("status", "error", "verdict", "reasons"):
        frame[column] = frame[column].fillna("").astype(str) if column in frame else ""
    frame["p_good"] = pd.to_numeric(frame.get("p_good"), errors="coerce")
    ok = (frame["status"] == "ok") & frame["p_good"].notna()
    # People's impression as the model learnt it: from every layer of the networks (its
    # heads), else from their last layer (an embedding read-out).
    impression = _numeric(frame, IMPRESSION_FEATURE).fillna(_numeric(frame, READOUT_FEATURE))
    score = cover_score(frame["p_good"], impression, _numeric(frame, "nima_aesthetic_mean"))
    frame["cover_score"] = np.where(ok, score, np.nan)
    frame["exposure_fault"] = sum(_numeric(frame, c).fillna(0.0) for c in EXPOSURE_FAULTS)
    for _, column, _ in ASPECTS:  # a CSV read as text: numbers to compare
        frame[column] = _numeric(frame, column)
    frame["_hashes"] = _hashes(frame, ok, hashes_of)
    frame["_ok"] = ok

    summary = RankSummary(photos=len(frame), errors=int((~ok).sum()))
    summary.plain = int(
        sum(h is None for h, judged in zip(frame["_hashes"], ok, strict=True) if judged)
    )
    ranked = []
    for name, group in frame.groupby(group_by, sort=False):
        ranked.append(_rank_one(group, distance, summary, str(name)))
        summary.groups += 1
    out = pd.concat(ranked) if ranked else frame.iloc[:0].assign(why="", duplicate_of="")
    columns = [group_by, "image", *RANK_COLUMNS]
    return out[columns].reset_index(drop=True), summary


LISTING = "listing"
"""The group column of :func:`rank_photos`'s one listing (left out of what it answers)."""


def unique_names(names: Sequence[str]) -> list[str]:
    """``names`` with repeats told apart: the second ``x.jpg`` becomes ``x.jpg#2`` (so a
    ``duplicate_of`` says which photo it means); a name given as it is stays as it is."""
    given, used, counts = set(names), set(), Counter()
    out = []
    for name in names:
        counts[name] += 1
        unique = name if counts[name] == 1 else f"{name}#{counts[name]}"
        while unique in used or (unique != name and unique in given):
            counts[name] += 1
            unique = f"{name}#{counts[name]}"
        used.add(unique)
        out.append(unique)
    return out


def rank_photos(scorer: Scorer, items: Sequence[InputItem]) -> tuple[pd.DataFrame, RankSummary]:
    """One listing's photos scored and ranked: each photo's scores row (as
    :meth:`Scorer.csv_row` writes it) in rank order, and the summary.

    Photos are judged one at a time and only their rows are kept, so memory grows with
    one photo's pixels, not with the listing's.
    """
    rows = []
    for item in items:
        (assessment,) = scorer.assess([item])
        rows.append({**scorer.csv_row(assessment), "image": item.image, LISTING: LISTING})
        del assessment  # its pixels and mask go before the next photo is decoded
    frame = pd.DataFrame(rows)
    ranked, summary = rank_groups(frame, LISTING)
    return ranked.drop(columns=[LISTING]), summary


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(np.nan, index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce")


def _hashes(frame: pd.DataFrame, ok: pd.Series, hashes_of) -> list:
    cells = frame["phash"] if "phash" in frame else pd.Series("", index=frame.index)
    hashes = [parse_hashes(cell) for cell in cells]
    # Empty: scored before hashes were written, so read from the file where it is; a
    # plain photo (FLAT) has none to compare, by design.
    missing = [
        i for i, h in enumerate(hashes) if h is None and ok.iloc[i] and cells.iloc[i] != FLAT
    ]
    if missing and hashes_of is not None:
        for i, h in zip(missing, hashes_of(frame.iloc[missing]), strict=True):
            hashes[i] = h
    return hashes


def _rank_one(group: pd.DataFrame, distance: int, summary: RankSummary, name: str):
    group = group.copy()
    good = group["_ok"] & (group["verdict"] == "good")
    # Best first before duplicates are known, so that the original kept is the better one.
    group["_class"] = np.where(~group["_ok"], 3, np.where(good, 0, 1))
    group = _in_order(group)
    group["duplicate_of"] = _duplicates(group, distance)
    dup = group["duplicate_of"] != ""
    summary.duplicates += int(dup.sum())
    group["_class"] = np.where(group["_class"] == 3, 3, np.where(dup, 2, group["_class"]))
    group = _in_order(group)
    group["rank"] = np.arange(1, len(group) + 1)
    group["is_cover"] = (group["rank"] == 1) & group["_ok"]
    publishable = bool((group["_class"] == 0).any())
    if not publishable:
        summary.unpublishable.append(name)
    group["why"] = _reasons_why(group, publishable)
    return group


def _in_order(group: pd.DataFrame) -> pd.DataFrame:
    """Rows by class (good, bad, duplicate, error), then cover score (highest first), then
    image name and input order: one order, whatever order the rows came in."""
    return group.sort_values(
        ["_class", "cover_score", "image", "_order"],
        ascending=[True, False, True, True],
        na_position="last",
        kind="mergesort",
    )


def _duplicates(group: pd.DataFrame, distance: int) -> list[str]:
    kept: list[tuple[str, tuple[int, ...]]] = []
    marks = []
    for image, hashes, ok in zip(group["image"], group["_hashes"], group["_ok"], strict=True):
        if not ok or hashes is None:
            marks.append("")
            continue
        near = [(photo_distance(hashes, h), i) for i, (_, h) in enumerate(kept)]
        near = [(d, i) for d, i in near if d <= distance]
        if near:
            marks.append(kept[min(near)[1]][0])
        else:
            marks.append("")
            kept.append((str(image), hashes))
    return marks


def _reasons_why(group: pd.DataFrame, publishable: bool) -> list[str]:
    """``why`` of each row of one ranked group (rows in rank order)."""
    rows = group.to_dict("records")
    cover = rows[0] if rows[0]["_ok"] else None
    distinct_good = [r for r in rows if r["_class"] == 0]
    judged = [r for r in rows if r["_ok"]]
    twins = sum(1 for r in judged if r["_class"] == 2 and r["verdict"] == "good")
    out = []
    for row in rows:
        if not row["_ok"]:
            said = f"ranked last: could not be judged ({row['error'] or 'no score'})"
        elif row is cover:
            said = _cover_why(row, distinct_good, len(judged), publishable, twins)
        elif row["duplicate_of"]:
            said = f"a near-duplicate of {row['duplicate_of']}: kept out of the places ahead"
        elif publishable and row["_class"] == 1:
            said = "bad" + (f": {row['reasons']}" if row["reasons"] else "")
        else:
            said = _behind(row, cover)
        out.append(said if publishable else f"{NO_PUBLISHABLE}; {said}")
    return out


def _cover_why(row: dict, good: list[dict], judged: int, publishable: bool, twins: int = 0) -> str:
    """``why`` of the cover; ``good`` are the good photos that are no near-duplicate,
    ``twins`` the good ones that are (counted, never said to be absent)."""
    if not publishable:
        which = (
            f"the least bad of {judged} photos"
            if judged > 1
            else "the only photo that could be judged"
        )
        return f"{which} ({_scores(row)})"
    if len(good) == 1:
        if twins:
            copies = "a near-duplicate" if twins == 1 else f"{twins} near-duplicates"
            return f"the only good photo of {judged} but for {copies} of one already placed"
        return f"the only good photo of {judged}" if judged > 1 else "the only photo, and good"
    leads = [words for words, column, higher in ASPECTS if _leads(row, good, column, higher)]
    if leads:
        return f"good, and the {_join(leads)} of {len(good)} good photos"
    return f"good, with the highest cover score of {len(good)} good photos ({_scores(row)})"


def _behind(row: dict, cover: dict | None) -> str:
    if cover is None:
        return "behind the photos ranked ahead"
    lower = f"cover score {row['cover_score']:.2f} against {cover['cover_score']:.2f}"
    if row["_class"] == 0:
        return f"good, behind {cover['image']} ({lower})"
    return f"behind {cover['image']} ({lower})" + (
        f"; bad: {row['reasons']}" if row["reasons"] else ""
    )


def _leads(row: dict, others: list[dict], column: str, higher: bool) -> bool:
    value = row.get(column, math.nan)
    rest = [r.get(column, math.nan) for r in others if r is not row]
    values = [v for v in rest if isinstance(v, int | float) and not math.isnan(v)]
    if not isinstance(value, int | float) or math.isnan(value) or not values:
        return False
    return value > max(values) if higher else value < min(values)


def _scores(row: dict) -> str:
    return f"p_good {row['p_good']:.2f}, cover score {row['cover_score']:.2f}"


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
