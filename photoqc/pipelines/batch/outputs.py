"""Output files that survive kills, full disks and a second process.

- :class:`OutputLock`: an OS lock (``flock``) on a hidden file beside the output, held for
  the whole run; a second process writing the same output is refused at once.
- :class:`ResumableCsv`: a CSV appended batch by batch, each batch flushed and synced to
  disk. A later run reads back which rows are there, cutting a half-written last record
  (a quoted name may hold a newline, so records are parsed, not lines), and continues.
  A disk that fills up is one clear error; the rows already written stay, and the same
  command resumes.
- :func:`finish_table`: a finished CSV journal becomes the final table (CSV or Parquet)
  through a temporary file and an atomic rename, in chunks, so memory stays flat however
  many rows there are, and a kill or a full disk leaves the old table or none, never half
  of one.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import logging
import math
import os
import signal
import stat
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from photoqc.errors import PhotoqcError

logger = logging.getLogger(__name__)

CSV_ENCODING = "utf-8"

MAX_CSV_FIELD = 1 << 30
"""Largest CSV field read back (bytes). The csv module's default, 128 KiB, is less than an
``image`` cell may hold (a CSV of paths is the user's): a longer one must be read as a
field, not mistaken for the end of the file. The limit is the module's own, process-wide."""
csv.field_size_limit(max(csv.field_size_limit(), MAX_CSV_FIELD))
LINE_END = "\r\n"
"""RFC 4180's record end. With it the csv module quotes any field holding a carriage return
as well as a newline, so every CSV reader sees a file name with either as one field."""


class OutputError(PhotoqcError):
    """The output cannot be written as asked; the message is one line and says what to do."""


class StaleOutputError(OutputError):
    """An existing output holds rows another run (model, threshold, settings) wrote."""


class Interrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C or SIGTERM after ``kept`` rows were safely in ``out``."""

    def __init__(self, kept: int, out: Path):
        super().__init__(f"interrupted: {kept} rows kept in {out}")
        self.kept = kept
        self.out = out


TABLE_SUFFIXES = (".parquet", ".csv")
"""What a feature table may be written as, by the output's file name ending."""


def check_table_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path if it ends in .parquet or .csv.

    Raises
    ------
    OutputError
        Another ending.
    """
    path = Path(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise OutputError(f"{path}: output must end in .parquet or .csv")
    return path


def journal_path(out: str | os.PathLike[str]) -> Path:
    """Where a table's rows are collected until it is complete (hidden, beside it)."""
    out = Path(out)
    return out.with_name(f".{out.name}.partial.csv")


def _refuse_special(out: Path) -> None:
    """OutputError when ``out`` exists and is neither a regular file nor a folder: writing
    to a FIFO waits forever for a reader, to a device or socket makes no table."""
    try:
        mode = os.stat(out).st_mode
    except OSError:
        return  # not there yet (or unreadable: the write says why)
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "not a regular file"
        raise OutputError(f"{out}: is {kind}; --out must name a file (or a folder) to write")


class OutputLock:
    """Hold an exclusive OS lock on ``out`` for a run (a context manager).

    The lock lives on a hidden file beside ``out`` holding the owner's pid. A second
    process asking for it gets :class:`OutputError` at once; the lock goes with the
    process, however it ends.
    """

    def __init__(self, out: str | os.PathLike[str]):
        self.out = Path(out)
        self.path = self.out.with_name(f".{self.out.name}.lock")
        self.fd: int | None = None

    def __enter__(self) -> OutputLock:
        _refuse_special(self.out)
        try:
            return self._take()
        except OSError as exc:  # a full disk or a read-only folder: one line, and no lock left
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None
            with contextlib.suppress(OSError):  # a read-only file system refuses this too
                self.path.unlink(missing_ok=True)
            raise OutputError(
                f"cannot write {self.out}: {exc.strerror or exc}. Nothing was written: fix "
                "that and run the same command again"
            ) from None

    def _take(self) -> OutputLock:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise OutputError(
                    f"{self.out} is being written by another photoqc process (pid {owner}); "
                    "wait for it to finish, or choose another --out"
                ) from None
            # The holder before us may have removed the file as it finished: the lock is
            # ours only if it is on the file that is at the path now.
            try:
                if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        self.fd = fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return self

    def __exit__(self, *exc_info) -> None:
        if self.fd is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None


def cell(value: object) -> object:
    """One CSV cell: NaN and None empty, floats exact (``repr``), text as it is."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return value


@contextlib.contextmanager
def interrupts_held():
    """Ctrl-C and SIGTERM held back until the block ends, then delivered as they would have
    been: a batch's rows land whole and are counted together, so the count said on an
    interruption is the count on disk. (Only the main thread receives signals; elsewhere
    nothing is held.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in held}
    for sig in held:
        signal.signal(sig, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(caught):
            signal.raise_signal(sig)


class ResumableCsv:
    """A CSV written batch by batch that a later run can continue.

    Opening an existing file checks its header equals ``columns``, cuts a half-written last
    record, checks every row shares this run's ``run`` values (e.g. model and threshold;
    :class:`StaleOutputError` otherwise), and counts the images already in it
    (:attr:`done`). :attr:`kept` is the rows on disk, counted as each batch lands.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        columns: Sequence[str],
        *,
        overwrite: bool = False,
        run: Mapping[str, object] | None = None,
        describe_run: Mapping[str, str] | None = None,
    ):
        self.path = Path(path)
        self.columns = list(columns)
        self.done: Counter[str] = Counter()
        self.run = dict(run or {})
        self.describe_run = dict(describe_run or {})
        if overwrite or not self.path.exists() or self.path.stat().st_size == 0:
            self._guard(self._start)
        else:
            self._resume()
        self.kept = sum(self.done.values())

    def _start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", newline="", encoding=CSV_ENCODING) as handle:
            csv.writer(handle, lineterminator=LINE_END).writerow(self.columns)
            handle.flush()
            os.fsync(handle.fileno())

    def _resume(self) -> None:
        seen: dict[str, set[str]] = {column: set() for column in self.run}
        images: list[str] = []
        with self.path.open("rb") as handle:
            records = _records(handle)
            header, complete = next(records, ([], 0))
            if header != self.columns:
                raise OutputError(
                    f"{self.path} exists with other columns (another model's features, "
                    "or with/without --shap); use another --out, or --overwrite to start again"
                )
            positions = {column: header.index(column) for column in ("image", *self.run)}
            for record, end in records:
                complete = end
                images.append(record[positions["image"]])
                for column in self.run:
                    seen[column].add(record[positions[column]])
            size = handle.seek(0, os.SEEK_END)
        if complete < size:
            logger.warning("%s: dropping a half-written last row", self.path)
            self._guard(lambda: os.truncate(self.path, complete))
        _refuse_other_runs(self.path, seen, self.run, self.describe_run)
        self.done = Counter(images)

    def close(self) -> None:
        """Nothing to do: every batch is on disk as soon as it is written."""

    def write(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Append rows, flush and sync so that they survive the process being killed.

        Raises
        ------
        OutputError
            The disk is full or the file cannot be written: one line naming the file.
        """

        def append() -> None:
            with self.path.open("a", newline="", encoding=CSV_ENCODING) as handle:
                writer = csv.writer(handle, lineterminator=LINE_END)
                for row in rows:
                    writer.writerow([cell(row.get(c)) for c in self.columns])
                handle.flush()
                os.fsync(handle.fileno())

        with interrupts_held():
            self._guard(append)
            self.kept += len(rows)

    def _guard(self, action) -> None:
        try:
            action()
        except OSError as exc:
            raise OutputError(
                f"cannot write {self.path}: {exc.strerror or exc}. The rows already written "
                "are kept: fix that and run the same command again to resume"
            ) from None


def _refuse_other_runs(path: Path, seen, run, describe_run) -> None:
    """Raise StaleOutputError when the rows of ``path`` hold other values of the run's
    columns than ``run`` (another model, threshold or recipe wrote them)."""
    stale = _run_differences(seen, run, describe_run)
    if stale:
        raise StaleOutputError(
            f"{path} holds rows written with {'; '.join(stale)}; resuming would keep "
            "them as if they were this run's. Use --overwrite to start again, or "
            "another --out"
        )


def _run_differences(
    seen: Mapping[str, set[str]], run: Mapping[str, object], describe: Mapping[str, str]
) -> list[str]:
    """How the run values found in an output (``seen``, as text) differ from this run's."""
    found = []
    for column, current in run.items():
        values = {v for v in seen[column] if v not in ("", "None")}
        if isinstance(current, float):
            other = sorted(v for v in values if not _same_number(v, current))
        else:
            other = sorted(v for v in values if v != str(current))
        if other:
            what = describe.get(column, f"another {column}")
            found.append(f"{what} ({', '.join(o[:12] for o in other)})")
    return found


def _same_number(text: str, value: float) -> bool:
    try:
        return math.isclose(float(text), value, rel_tol=0, abs_tol=1e-12)
    except ValueError:
        return False


def _records(handle) -> Iterator[tuple[list[str], int]]:
    """Complete CSV records of a binary file with the byte offset where each ends.

    A record is complete when the csv module closed it (a quoted field may span lines) and
    its last line ended with a newline; parsing stops at the first record that is not.
    """
    consumed = 0
    last_line_complete = True

    def lines() -> Iterator[str]:
        nonlocal consumed, last_line_complete
        for raw in handle:
            consumed += len(raw)
            last_line_complete = raw.endswith(b"\n")
            yield raw.decode(CSV_ENCODING, "replace")

    reader = csv.reader(lines())
    width = None
    try:
        for record in reader:
            if not last_line_complete or (width is not None and len(record) != width):
                return
            width = width or len(record)
            yield record, consumed
    except csv.Error:  # a quote left open by a kill mid-write
        return


PART_ROWS = 2048
"""Rows a Parquet dataset folder collects before it writes them as one part file."""


class ResumableParquetFolder:
    """A Parquet dataset folder written part by part that a later run can continue (the
    interface of :class:`ResumableCsv`).

    Rows are collected and written ``part_rows`` at a time (and at :meth:`close`) as
    ``part-NNNNNN-XXXXXXXX.parquet``, each through a hidden temporary file and a rename, so
    a part is whole or absent: a killed run loses the rows not yet written, never a file
    half written. Opening an existing folder checks every part's columns, that every row
    shares this run's ``run`` values (:class:`StaleOutputError` otherwise), and counts the
    images already in it (:attr:`done`). Text columns are strings; the others float64.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        columns: Sequence[str],
        *,
        text_columns: Sequence[str] = (),
        overwrite: bool = False,
        run: Mapping[str, object] | None = None,
        describe_run: Mapping[str, str] | None = None,
        part_rows: int = PART_ROWS,
    ):
        import pyarrow as pa

        self.part_rows = max(1, part_rows)
        self.path = Path(path)
        self.columns = list(columns)
        text = set(text_columns)
        self.schema = pa.schema(
            [(c, pa.string() if c in text else pa.float64()) for c in self.columns]
        )
        self.run = dict(run or {})
        self.describe_run = dict(describe_run or {})
        self.done: Counter[str] = Counter()
        self.pending: list[Mapping[str, object]] = []
        self._guard(lambda: self._open(overwrite))
        self.kept = sum(self.done.values())
        """Rows in the folder's parts on disk (counted as each part lands)."""
        self._next_part = len(self._parts())  # counted once: a backlog writes thousands

    def _parts(self) -> list[Path]:
        return sorted(self.path.glob("part-*.parquet"))

    def _open(self, overwrite: bool) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"{self.path} is a file; the ray engine writes a folder of parts")
        self.path.mkdir(parents=True, exist_ok=True)
        for leftover in self.path.glob(".part-*.tmp"):  # a part a killed run was writing
            leftover.unlink()
        if overwrite:
            for part in self._parts():
                part.unlink()
            return
        seen: dict[str, set[str]] = {column: set() for column in self.run}
        for part in self._parts():
            try:
                table = pq.read_table(part, columns=["image", *self.run])
                names = pq.read_schema(part).names
            except (pa.ArrowInvalid, OSError, KeyError) as exc:
                raise OutputError(
                    f"{part}: not a part this run can keep ({exc}); use --overwrite to start "
                    "again, or another --out"
                ) from None
            if names != self.columns:
                raise OutputError(
                    f"{self.path} holds parts with other columns (another model's features, "
                    "or with/without --shap); use another --out, or --overwrite to start again"
                )
            self.done.update(table.column("image").to_pylist())
            for column in self.run:
                seen[column].update(str(v) for v in table.column(column).to_pylist())
        _refuse_other_runs(self.path, seen, self.run, self.describe_run)

    def write(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Collect rows; write a part when enough are in."""
        self.pending.extend(rows)
        if len(self.pending) >= self.part_rows:
            self.flush()

    def flush(self) -> None:
        """Write the rows collected so far as one part (whole, or not at all)."""
        import uuid

        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.pending:
            return
        columns = {
            c: [_parquet_cell(row.get(c), self.schema.field(c).type) for row in self.pending]
            for c in self.columns
        }
        name = f"part-{self._next_part:06d}-{uuid.uuid4().hex[:8]}.parquet"
        temporary = self.path / f".{name}.tmp"

        def write() -> None:
            pq.write_table(pa.table(columns, schema=self.schema), temporary)
            os.replace(temporary, self.path / name)

        with interrupts_held():
            try:
                self._guard(write)
            finally:
                temporary.unlink(missing_ok=True)
            self.kept += len(self.pending)
            self.pending = []
            self._next_part += 1

    def close(self) -> None:
        self.flush()

    def _guard(self, action) -> None:
        try:
            action()
        except OSError as exc:
            raise OutputError(
                f"cannot write {self.path}: {exc.strerror or exc}. The parts already written "
                "are kept: fix that and run the same command again to resume"
            ) from None


def _parquet_cell(value: object, kind) -> object:
    """A cell as its Parquet column holds it: text as text, NaN and None as null."""
    import pyarrow as pa

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind == pa.string():
        return str(value)
    return float(value)  # type: ignore[arg-type]


def finish_table(
    journal: str | os.PathLike[str],
    out: str | os.PathLike[str],
    columns: Sequence[str],
    text_columns: Sequence[str],
) -> None:
    """Write the final table ``out`` (``.csv`` or ``.parquet``) from a finished CSV journal,
    keeping ``columns`` (numbers as float64 except ``text_columns``), then remove the
    journal. The table appears at once, whole (temporary file, then rename).

    Raises
    ------
    OutputError
        The disk is full or ``out`` cannot be written (the journal is kept).
    """
    journal, out = Path(journal), Path(out)
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        if out.suffix.lower() == ".parquet":
            _csv_to_parquet(journal, temporary, columns, text_columns)
        else:
            _csv_columns(journal, temporary, columns)
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, out)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(
            f"cannot write {out}: {exc.strerror or exc}. The rows measured so far are kept in "
            f"{journal}: fix that and run the same command again to finish"
        ) from None
    journal.unlink(missing_ok=True)


def _csv_columns(source: Path, target: Path, columns: Sequence[str]) -> None:
    """Copy ``columns`` of a CSV, record by record."""
    with (
        source.open(newline="", encoding=CSV_ENCODING) as reader_handle,
        target.open("w", newline="", encoding=CSV_ENCODING) as writer_handle,
    ):
        reader = csv.reader(reader_handle)
        header = next(reader)
        keep = [header.index(c) for c in columns]
        writer = csv.writer(writer_handle, lineterminator=LINE_END)
        writer.writerow(columns)
        for record in reader:
            writer.writerow([record[i] for i in keep])


PARQUET_BLOCK = 1 << 22
"""Bytes of the journal read at a time when it becomes a Parquet table."""


def _csv_to_parquet(
    source: Path, target: Path, columns: Sequence[str], text_columns: Sequence[str]
) -> None:
    """Convert a CSV to Parquet in blocks (pyarrow's streaming CSV reader)."""
    import pyarrow as pa

    text = set(text_columns)
    schema = pa.schema([(c, pa.string() if c in text else pa.float64()) for c in columns])
    # Blocks of 4 MiB keep memory flat; a record larger than a block (a 10 MB name) needs
    # larger ones, up to the whole file.
    block, size = PARQUET_BLOCK, max(PARQUET_BLOCK, source.stat().st_size)
    while True:
        try:
            _write_parquet(source, target, schema, columns, block)
            return
        except pa.ArrowInvalid as exc:
            if "straddling" not in str(exc) or block >= size:
                raise
            block = min(4 * block, size + 1)


def _write_parquet(source: Path, target: Path, schema, columns: Sequence[str], block: int) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    reader = pacsv.open_csv(
        source,
        read_options=pacsv.ReadOptions(block_size=block),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=schema,
            include_columns=list(columns),
            null_values=[""],
            strings_can_be_null=False,
        ),
    )
    with pq.ParquetWriter(target, schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
