"""The one resumable runner behind ``photoqc features``, ``photoqc score`` and training.

:func:`run` does, for any job (a feature extractor, a scorer) on any engine:

1. lock the output (a second process on it is refused at once);
2. open it as a resumable table: the rows already there are kept when the same run wrote
   them (same model, threshold, recipe), a half-written last row is dropped;
3. skip the inputs already done (an image listed twice needs two rows);
4. hand the rest to the engine in batches;
5. write the rows in input order as batches come back, each batch synced to disk, so a
   killed run loses at most the batches in flight and the same command resumes;
6. for a table written through a journal (``features``' Parquet or CSV), make the final
   table at once, whole, when every row is in;
7. return a summary.

Without a table (training's feature rows) it runs steps 4 and 5 into memory. Nothing else
in photoqc locks, resumes or orders rows.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from photoqc.assess.extractor import STATUS_OK
from photoqc.assess.items import InputItem
from photoqc.engines import Batch, Engine, Job, Row, batched, build_engine
from photoqc.pipelines.batch.outputs import (
    PART_ROWS,
    Interrupted,
    OutputLock,
    ResumableCsv,
    ResumableParquetFolder,
    StaleOutputError,
    finish_table,
    journal_path,
)

logger = logging.getLogger(__name__)

FIRST_ERRORS = 10
"""Error rows a summary keeps with their messages (the rest are counted)."""


@dataclass(frozen=True)
class TableSpec:
    """Where and how a run writes its rows.

    Attributes
    ----------
    out : path
        The output the user named.
    columns : sequence of str
        Columns of the rows as written (the resumable CSV's header).
    run : mapping
        Values every row of this run shares (model sha256, threshold, recipe): written
        into each row, and checked on resume so that another run's rows are never kept
        as this one's.
    describe_run : mapping
        How to say each ``run`` column in the message when they differ.
    overwrite : bool
        Start afresh instead of resuming.
    restart_stale : bool
        Rows of another run: start again with a warning (a journal, which nobody reads)
        instead of refusing (a file the user reads).
    final_columns : sequence of str, optional
        When given, rows go to a hidden journal beside ``out`` and ``out`` is made from it
        at the end (``.csv`` or ``.parquet``) with these columns, numbers as floats except
        ``text_columns``.
    folder : bool
        ``out`` is a Parquet dataset folder, written ``part_rows`` rows a part (text
        columns as strings, the rest float64), resumable as a CSV is.
    """

    out: Path
    columns: Sequence[str]
    run: Mapping[str, object] = field(default_factory=dict)
    describe_run: Mapping[str, str] = field(default_factory=dict)
    overwrite: bool = False
    restart_stale: bool = False
    final_columns: Sequence[str] | None = None
    text_columns: Sequence[str] = ()
    folder: bool = False
    part_rows: int = PART_ROWS

    @property
    def journal(self) -> Path:
        """The file rows are appended to: ``out`` itself, or its hidden journal."""
        return journal_path(self.out) if self.final_columns is not None else Path(self.out)


@dataclass
class RunSummary:
    """What a run did.

    ``total`` inputs, of which ``already_done`` were in the output from an earlier run and
    ``processed`` were done now; ``errors`` among those, the first few with their
    messages; ``verdicts`` counts the ``verdict`` column of rows that have one.
    """

    total: int = 0
    already_done: int = 0
    processed: int = 0
    errors: int = 0
    first_errors: list[tuple[str, str]] = field(default_factory=list)
    verdicts: Counter[str] = field(default_factory=Counter)

    @property
    def rows(self) -> int:
        """Rows in the output now."""
        return self.already_done + self.processed

    @property
    def good(self) -> int:
        return self.verdicts["good"]

    @property
    def bad(self) -> int:
        return self.verdicts["bad"]

    def add(self, rows: Sequence[Row]) -> None:
        self.processed += len(rows)
        for row in rows:
            if row.get("verdict"):
                self.verdicts[str(row["verdict"])] += 1
            if row["status"] != STATUS_OK:
                self.errors += 1
                if len(self.first_errors) < FIRST_ERRORS:
                    self.first_errors.append((str(row["image"]), str(row["error"])))


def run(
    items: Collection[InputItem],
    job: Job,
    *,
    engine: Engine | None = None,
    table: TableSpec | None = None,
    on_rows: Callable[[int], None] | None = None,
    collect: Callable[[list[Row]], None] | None = None,
) -> RunSummary:
    """Run ``job`` over ``items`` on ``engine`` (default: local, one process), into
    ``table`` when given; see the module docstring for the steps.

    ``on_rows(n)`` is called as rows are written (first with the rows an earlier run left,
    when there are any, so that a progress bar starts at them); ``collect(rows)`` with
    each batch's rows, in input order.

    Raises
    ------
    OutputError
        Another process writes the output, the output holds another run's rows (and
        ``restart_stale`` is off), or the disk is full (the rows written so far stay).
    Interrupted
        On Ctrl-C or SIGTERM, with how many rows the output keeps.
    """
    engine = engine or build_engine()
    with OutputLock(table.out) if table else contextlib.nullcontext():
        writer = _open(table) if table else None
        done = writer.done if writer else Counter()
        summary = RunSummary(total=len(items))
        # Inputs stream through (a manifest of millions is never held): those already done
        # are counted as they pass; a progress bar starts at the rows the output holds.
        expected_done = min(len(items), sum(done.values()))
        if on_rows and expected_done:
            on_rows(expected_done)
        todo = remaining(items, done, summary)
        size = engine.batch_size(len(items) - expected_done, job.batch_size)
        try:
            for batch, rows in in_input_order(engine.run(batched(todo, size), job)):
                rows = with_carried(batch, rows)
                if writer is not None:
                    writer.write([{**row, **writer.run} for row in rows])
                summary.add(rows)
                if collect:
                    collect(rows)
                if on_rows:
                    on_rows(len(rows))
        except KeyboardInterrupt:
            if writer is None:
                raise
            writer.close()  # rows already made are kept
            raise Interrupted(writer.kept, writer.path) from None
        if writer is not None:
            writer.close()
        if table is not None and table.final_columns is not None:
            finish_table(table.journal, table.out, table.final_columns, table.text_columns)
    return summary


def with_carried(batch: Batch, rows: list[Row]) -> list[Row]:
    """``rows`` with the manifest columns their items carry (the engine never sees them)."""
    if not any(item.carried for _, item in batch):
        return rows
    return [{**row, **dict(item.carried)} for (_, item), row in zip(batch, rows, strict=True)]


def _open(table: TableSpec) -> ResumableCsv | ResumableParquetFolder:
    def open_csv(overwrite: bool) -> ResumableCsv | ResumableParquetFolder:
        if table.folder:
            return ResumableParquetFolder(
                table.out,
                table.columns,
                text_columns=table.text_columns,
                part_rows=table.part_rows,
                overwrite=overwrite,
                run=table.run,
                describe_run=table.describe_run,
            )
        return ResumableCsv(
            table.journal,
            table.columns,
            overwrite=overwrite,
            run=table.run,
            describe_run=table.describe_run,
        )

    try:
        return open_csv(table.overwrite)
    except StaleOutputError:
        if not table.restart_stale:
            raise
        logger.warning("an interrupted run with other settings left %s: starting again", table.out)
        return open_csv(True)


def remaining(
    items: Iterable[InputItem], done: Counter[str], summary: RunSummary | None = None
) -> Iterator[InputItem]:
    """The items not yet in an output, in order (an image listed twice needs two rows);
    those skipped are counted in ``summary.already_done`` as they pass."""
    left = Counter(done)
    for item in items:
        if left[item.image] > 0:
            left[item.image] -= 1
            if summary is not None:
                summary.already_done += 1
        else:
            yield item


def in_input_order(
    batches: Iterable[tuple[Batch, list[Row]]],
) -> Iterator[tuple[Batch, list[Row]]]:
    """The batches an engine yields (over items numbered from 0, as
    :func:`photoqc.engines.batched` numbers them) in input order: a batch that finishes
    early waits for those before it."""
    waiting: dict[int, tuple[Batch, list[Row]]] = {}
    expected = 0
    for batch, rows in batches:
        waiting[batch[0][0]] = (batch, rows)
        while expected in waiting:
            ready = waiting.pop(expected)
            expected += len(ready[0])
            yield ready
