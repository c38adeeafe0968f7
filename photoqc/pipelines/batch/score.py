"""Score many photos into a CSV (``photoqc score``), resumably.

Rows are appended as their batch finishes and synced to disk, so a run that is killed loses
at most the batches in flight. Started again with the same arguments, it reads which
images are already in the file (dropping a half-written last line) and scores only the
rest: no row lost, none twice. Rows another model, threshold or recipe wrote are never
kept as this run's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from photoqc.assess.items import InputItem
from photoqc.assess.scorer import RUN_WORDS, SCORE_TEXT_COLUMNS, Scorer
from photoqc.engines import Engine, Job
from photoqc.pipelines.batch.outputs import PART_ROWS
from photoqc.pipelines.batch.runner import RunSummary, TableSpec, run


def scoring_job(scorer: Scorer) -> Job:
    """The job that scores with ``scorer``: in this process the scorer already built
    serves; elsewhere (worker processes, actors) each builds its own from the model folder
    and recipe."""
    return Job(Scorer, scorer.worker_args(), batch_size=scorer.config.batch_size, local=scorer)


def carried_columns(columns: Sequence[str], carry: Sequence[str]) -> list[str]:
    """``columns`` with the carried ones after ``image`` (a carried column that is also a
    score column is refused: it would be overwritten)."""
    from photoqc.errors import UsageError

    clash = [c for c in carry if c in columns]
    if clash:
        raise UsageError(
            f"--carry {', '.join(clash)}: already a column of the scores table; rename it in "
            "the manifest"
        )
    return [columns[0], *carry, *columns[1:]]


def score_to_csv(
    items: Sequence[InputItem],
    scorer: Scorer,
    out: str | os.PathLike[str],
    *,
    engine: Engine | None = None,
    overwrite: bool = False,
    on_rows: Callable[[int], None] | None = None,
    folder: bool = False,
    part_rows: int = PART_ROWS,
    carry: Sequence[str] = (),
) -> RunSummary:
    """Score ``items`` into the CSV ``out`` (with ``folder``, a Parquet dataset folder of
    the same columns, ``part_rows`` rows a part), continuing a previous run of the same job.

    Rows already in ``out`` are kept only when the same model, threshold and recipe wrote
    them (:data:`photoqc.assess.scorer.RUN_COLUMNS`). ``on_rows(n)`` is called as rows
    are written. ``carry`` names the manifest columns the items carry (written after
    ``image``, as text).

    Raises
    ------
    OutputError
        Another process writes ``out``; ``out`` holds another run's rows (the message names
        ``--overwrite``); the disk is full (the rows written so far stay, and the same
        command resumes).
    Interrupted
        On Ctrl-C or SIGTERM, with how many rows ``out`` keeps.
    """
    table = TableSpec(
        out=Path(out),
        columns=carried_columns(scorer.columns, carry),
        run=scorer.run,
        describe_run=RUN_WORDS,
        overwrite=overwrite,
        text_columns=(*SCORE_TEXT_COLUMNS, *carry),
        folder=folder,
        part_rows=part_rows,
    )
    return run(items, scoring_job(scorer), engine=engine, table=table, on_rows=on_rows)
