"""``photoqc rank``: score a manifest of listing photos (resumably), then choose each
listing's cover.

Given a manifest (``image`` plus the group column), the photos are scored into a scores
CSV beside the output (``ranked.scores.csv`` for ``ranked.csv``) by the one resumable
runner, with the group column carried through: a stopped run continues where it left
off. Given a scores CSV that ``photoqc score --carry COLUMN`` already wrote, nothing is
scored again. Ranking itself (:mod:`photoqc.assess.covers`) takes a moment, and
the ranked CSV is written whole through a temporary file and a rename.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from photoqc.assess.covers import RANK_COLUMNS, RankSummary, rank_groups
from photoqc.errors import UsageError
from photoqc.pipelines.batch.inputs import IMAGE_COLUMN, InputError, Manifest, scored_image_file
from photoqc.pipelines.batch.runner import RunSummary

SCORES_MARKERS = ("status", "p_good", "verdict")
"""Columns that make an input a scores table rather than a manifest to score."""


@dataclass
class RankOutcome:
    """What :func:`rank_to_csv` did: the ranking's summary, the scoring run's (None when
    the input was already scored) and where the scores are."""

    ranking: RankSummary
    scoring: RunSummary | None
    scores: Path


def scores_path(out: str | os.PathLike[str]) -> Path:
    """Where the photos of a ranking are scored: ``ranked.csv`` -> ``ranked.scores.csv``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.scores.csv")


def input_columns(path: Path) -> list[str]:
    """The columns of a manifest or scores table (CSV or Parquet)."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    try:
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV ({exc})") from None


def is_scores_table(columns: list[str]) -> bool:
    """Whether a table with ``columns`` was written by ``photoqc score``."""
    return all(c in columns for c in SCORES_MARKERS)


def rank_to_csv(
    source: str | os.PathLike[str],
    group_by: str,
    out: str | os.PathLike[str],
    *,
    score: Callable[[Manifest, Path], RunSummary] | None = None,
) -> RankOutcome:
    """Rank the photos named by ``source`` (a manifest to score, or a scores table) by
    ``group_by`` into the CSV ``out``.

    ``score(manifest, scores_csv)`` scores a manifest (its items carry ``group_by``) into
    ``scores_csv``, resumably; it is not called for a scores table.

    Raises
    ------
    InputError
        ``source`` cannot be read, has no ``image`` or no ``group_by`` column.
    UsageError
        A manifest is given but no way to score it, or ``group_by`` is a column the
        ranked table writes itself (``rank``, ``why``...).
    """
    source = Path(source)
    own = (IMAGE_COLUMN, *RANK_COLUMNS)
    if group_by in own:  # the ids would be overwritten by the ranking's own values
        raise UsageError(
            f"--group-by {group_by}: a ranked table has its own '{group_by}' column "
            f"({', '.join(own)}); rename that column of the manifest"
        )
    if not source.is_file():
        raise InputError(f"{source}: no such file (expected a CSV with 'image' and '{group_by}')")
    columns = input_columns(source)
    if IMAGE_COLUMN not in columns:
        listed = ", ".join(columns)
        raise InputError(f"{source}: no '{IMAGE_COLUMN}' column (columns are: {listed})")
    if group_by not in columns:
        hint = (
            f"; score with `photoqc score MANIFEST --carry {group_by}` to keep it"
            if is_scores_table(columns)
            else ""
        )
        raise InputError(f"{source}: no '{group_by}' column to group by{hint}")
    scoring = None
    if is_scores_table(columns):
        scores = source
    else:
        if score is None:
            raise UsageError(f"{source} is a manifest: it needs a model to score it")
        scores = scores_path(out)
        scoring = score(Manifest(source, [group_by]), scores)
    table = read_scores(scores, group_by)
    ranked, summary = rank_groups(
        table, group_by, hashes_of=lambda rows: hashes_from_files(rows, scores)
    )
    write_atomically(ranked, Path(out))
    return RankOutcome(ranking=summary, scoring=scoring, scores=scores)


def read_scores(path: Path, group_by: str) -> pd.DataFrame:
    """A scores table with the group column and names as text."""
    text = {IMAGE_COLUMN: str, group_by: str, "phash": str, "verdict": str, "reasons": str}
    if path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path)
        return frame.astype({c: str for c in text if c in frame})
    return pd.read_csv(path, dtype=text, keep_default_na=False, na_values={"p_good": [""]})


def hashes_from_files(rows: pd.DataFrame, table: Path) -> list:
    """Perceptual hashes of photos a scores table has none for (scored before photoqc
    wrote them), read from the files where they can be found; None where not."""
    from photoqc.images import load_image
    from photoqc.perceptual_hash import photo_hashes

    out = []
    for image in rows[IMAGE_COLUMN]:
        found = scored_image_file(str(image), table)
        try:
            out.append(photo_hashes(load_image(found).pixels) if found else None)
        except Exception:  # a file changed since it was scored: no hash, no duplicate
            out.append(None)
    return out


def write_atomically(frame: pd.DataFrame, out: Path) -> None:
    """Write ``frame`` as the CSV ``out``: a temporary file beside it, then a rename, so a
    kill leaves the old file or the new one, never half of one."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    frame.to_csv(partial, index=False, lineterminator="\r\n")
    os.replace(partial, out)
