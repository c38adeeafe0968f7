"""Feature rows of many images (``photoqc features``, and the rows training learns from).

Both run a :class:`photoqc.assess.extractor.FeatureExtractor` through the one runner
(:func:`photoqc.pipelines.batch.runner.run`): into a table that appears whole when every
row is in (resumable through a journal beside it), or into memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from photoqc.assess.extractor import FeatureExtractor
from photoqc.assess.items import InputItem
from photoqc.assess.recipe import TEXT_COLUMNS, ExtractConfig
from photoqc.engines import Engine, Job, Row
from photoqc.pipelines.batch.outputs import check_table_path
from photoqc.pipelines.batch.runner import RunSummary, TableSpec, run


def extraction_job(
    config: ExtractConfig, keep_embeddings: bool = False, keep_stats: bool = False
) -> Job:
    """The job that measures features with ``config`` (a resolved recipe, so that every
    worker agrees on one segmenter), with each row's NIMA embeddings and multi-level
    stats if asked."""
    return Job(
        FeatureExtractor,
        (config, keep_embeddings, None, 0.0, keep_stats),
        batch_size=config.batch_size,
    )


def write_features(
    items: Sequence[InputItem],
    config: ExtractConfig,
    out: str | os.PathLike[str],
    *,
    engine: Engine | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> RunSummary:
    """Measure ``items`` into the table ``out`` (``.parquet`` or ``.csv``), one row per
    input, in input order.

    Rows stream into a journal beside ``out`` as batches finish, so memory stays flat and
    an interrupted run resumes when the same command runs again; the table itself appears
    only when complete, at once. ``on_rows(n)`` is called as rows are written.

    Raises
    ------
    OutputError
        ``out`` has another ending, another process writes it, or the disk is full.
    Interrupted
        On Ctrl-C or SIGTERM, with how many rows the journal keeps.
    """
    out = check_table_path(out)
    table = TableSpec(
        out=out,
        columns=[*config.columns(), "recipe"],
        run={"recipe": config.fingerprint()},
        restart_stale=True,
        final_columns=config.columns(),
        text_columns=TEXT_COLUMNS,
    )
    return run(items, extraction_job(config), engine=engine, table=table, on_rows=on_rows)


def extract_rows(
    items: Sequence[InputItem],
    config: ExtractConfig,
    *,
    engine: Engine | None = None,
    on_rows: Callable[[int], None] | None = None,
    keep_embeddings: bool = False,
    keep_stats: bool = False,
    collect: Callable[[list[Row]], None] | None = None,
) -> list[Row]:
    """The feature row of every item, in input order, in memory (for training sets), with
    its NIMA embeddings with ``keep_embeddings`` and its multi-level stats with
    ``keep_stats``.

    ``config`` should already be resolved (:meth:`ExtractConfig.resolve`) so that workers
    agree on one segmenter. ``on_rows(n)`` is called as rows come back. With ``collect``,
    each batch's rows go to it, in input order, as they come (and none are returned).
    """
    rows: list[Row] = []
    job = extraction_job(config, keep_embeddings, keep_stats)
    run(items, job, engine=engine, on_rows=on_rows, collect=collect or rows.extend)
    return rows
