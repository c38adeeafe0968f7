"""What to process: one photo, a folder of photos (searched recursively), a glob pattern, or
a manifest (CSV or Parquet) with an ``image`` column.

Every file with an image-like name becomes an input, whatever it turns out to be: a FIFO,
a broken link or an undecodable file gets its own error row later, never silence. What a
folder walk cannot enter (an unreadable sub-folder, a symbolic link that loops back) is
counted and said once, as a warning.

Names are kept exactly, except where a table cannot hold them: bytes that are not UTF-8
are written as backslash escapes (``\\xff``), the same way every time, so a resumed run
recognises them. Folder inputs are named by their absolute path, so resuming with the
folder spelled another way (relative, absolute, ``./``) finds the rows already done.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from photoqc.assess.items import InputItem
from photoqc.errors import PhotoqcError
from photoqc.images import IMAGE_EXTENSIONS, MAX_PATH_BYTES, URL_SCHEMES, URLS_REFUSED, is_uri

IMAGE_COLUMN = "image"


class InputError(PhotoqcError):
    """The input folder or CSV cannot be used at all (as opposed to one bad image in it)."""


@dataclass
class Inputs:
    """The inputs found, and what could not be looked at (said once, as warnings)."""

    items: Sequence[InputItem] | Manifest = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)


def display_name(path: str | os.PathLike[str]) -> str:
    """``path`` as text that any table can hold: valid UTF-8 as it is, other bytes as
    backslash escapes (``b"\\xff"`` -> ``"\\xff"``). The same path always gives the same
    text."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def scored_image_paths(image: str, table_csv: str | Path) -> list[Path]:
    """Where the ``image`` value of a results table (scores CSV) may point, in order.

    An absolute path is itself; a relative one is tried against the working folder (where
    ``photoqc score`` was run on a folder) and then the table's own folder. Absolute paths
    are returned, whether or not the files exist.
    """
    path = Path(image)
    if path.is_absolute():
        return [path]
    return [Path(os.path.abspath(base / path)) for base in (Path.cwd(), Path(table_csv).parent)]


def scored_image_file(image: str, table_csv: str | Path) -> Path | None:
    """The first of :func:`scored_image_paths` that is a file, or None."""
    return next((p for p in scored_image_paths(image, table_csv) if p.is_file()), None)


MANIFEST_SUFFIXES = (".csv", ".parquet")
"""A manifest: a table with an ``image`` column, as CSV or Parquet."""

GLOB_CHARACTERS = frozenset("*?[")


def collect_inputs(source: str | Path, carry: Sequence[str] = ()) -> Inputs:
    """The images named by ``source``: a folder (recursive), a manifest (``.csv`` or
    ``.parquet`` with an ``image`` column), a glob pattern (``photos/*/*.jpg``, ``**``
    for any depth; quote it so that the shell leaves it alone), or one photo.

    ``carry`` names a manifest's columns to carry through to each output row (see
    :attr:`InputItem.carried`); only a manifest has them.

    Raises
    ------
    InputError
        When ``source`` does not exist, is a manifest without an ``image`` column (or a
        column of ``carry``), a folder without any image files or a pattern matching
        none, or a web address; or ``carry`` is given for input that is not a manifest.
    """
    # A Path keeps one slash of "https://": look at the text as typed, and as Path left it.
    if is_url(str(source)) or re.match(r"https?:/[^/]", str(source), re.IGNORECASE):
        raise InputError(URLS_REFUSED)
    source = Path(source)
    if source.is_file() and source.suffix.lower() in MANIFEST_SUFFIXES:
        return Inputs(Manifest(source, carry))
    if carry:
        raise InputError(
            f"{display_name(source)}: only a manifest (.csv or .parquet) has columns to carry "
            f"({', '.join(carry)})"
        )
    if source.is_dir():
        return folder_inputs(source)
    if GLOB_CHARACTERS & set(str(source)) and not source.exists():
        return glob_inputs(str(source))
    if not source.exists():
        raise InputError(f"{display_name(source)}: no such file or folder")
    # One photo: named by its absolute path as a folder's are (a rerun finds its row);
    # a file that is not an image gets its error row like any input of a folder.
    name = os.path.abspath(source)
    return Inputs([InputItem(display_name(name), Path(name))])


def glob_inputs(pattern: str) -> Inputs:
    """Files matching ``pattern`` (``**`` for any depth), sorted, named by absolute path;
    the same rows as a folder gives (hidden files left out)."""
    import glob

    names = sorted(
        os.path.abspath(p)
        for p in glob.iglob(pattern, recursive=True)
        if not os.path.isdir(p) and not os.path.basename(p).startswith(".")
    )
    if not names:
        raise InputError(f"{pattern}: the pattern matches no file")
    return Inputs([InputItem(display_name(p), p) for p in names])


def is_image_name(path: str | os.PathLike[str]) -> bool:
    """True for file names ending in a known image extension (any case)."""
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def folder_inputs(folder: Path) -> Inputs:
    """Files under ``folder`` with an image extension, sorted, named by absolute path.

    Hidden files and folders (a leading dot) are skipped. Symbolic links to folders are
    followed unless they lead back to a folder already on the way (a loop); links, FIFOs
    and the like with an image name are inputs like any file (their rows say what they
    are). Folders that cannot be read, and link loops, are counted in the warnings.
    """
    root = Path(os.path.abspath(folder))
    found = Inputs()
    unreadable: list[str] = []
    loops: list[str] = []

    def walk(directory: str, ancestors: frozenset[tuple[int, int]]) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            unreadable.append(f"{display_name(directory)} ({exc.strerror or exc})")
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = os.path.join(directory, entry.name)
            if _is_folder(entry):
                info = _identity(path)
                if info is None or info in ancestors:
                    loops.append(display_name(path))
                    continue
                walk(path, ancestors | {info})
            elif is_image_name(entry.name):
                name = display_name(path)
                found.items.append(InputItem(name, name if name == path else path))

    walk(str(root), frozenset(filter(None, [_identity(root)])))
    if unreadable:
        found.warnings.append(
            f"{len(unreadable)} folder(s) could not be read and were skipped: "
            + "; ".join(unreadable[:5])
            + (" ..." if len(unreadable) > 5 else "")
        )
    if loops:
        found.warnings.append(
            f"{len(loops)} symbolic link(s) lead back into a folder already being searched "
            "and were not followed: " + "; ".join(loops[:5]) + (" ..." if len(loops) > 5 else "")
        )
    if not found.items:
        raise InputError(
            f"{display_name(folder)}: no image files found (looked for "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))})"
            + (f"; {' '.join(found.warnings)}" if found.warnings else "")
        )
    return found


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:  # a link loop or a link into nowhere: not a folder
        return False


def _identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


class Manifest:
    """The ``image`` column of a manifest (CSV or Parquet), read a chunk at a time: a
    manifest of millions of photos is never held whole. Sized (rows are counted when it
    is opened) and iterable (again and again) as :class:`InputItem`; relative paths are
    relative to the manifest's folder.

    Raises
    ------
    InputError
        The file cannot be read as a CSV or Parquet table, or has no ``image`` column
        (when opened); a CSV broken further down (while iterating).
    """

    CHUNK_ROWS = 1 << 16

    def __init__(self, path: Path, carry: Sequence[str] = ()):
        self.path = Path(path)
        self.base = str(self.path.parent)
        self.parquet = self.path.suffix.lower() == ".parquet"
        self.carry = tuple(dict.fromkeys(c for c in carry if c != IMAGE_COLUMN))
        self.rows = self._count()

    def __len__(self) -> int:
        return self.rows

    def __iter__(self) -> Iterator[InputItem]:
        for names, carried in self._chunks():
            for i, name in enumerate(names):
                kept = tuple((c, carried[c][i]) for c in self.carry)
                yield InputItem(name, _csv_source(self.base, name), kept)

    def _refuse(self, what: str, exc: BaseException | None = None) -> InputError:
        said = f" ({exc})" if exc is not None else ""
        return InputError(f"{display_name(self.path)}: {what}{said}")

    def _columns(self) -> list[str]:
        if self.parquet:
            import pyarrow.parquet as pq

            return pq.read_schema(self.path).names
        return [str(c) for c in pd.read_csv(self.path, nrows=0).columns]

    def _count(self) -> int:
        import pyarrow as pa

        try:
            columns = self._columns()
        except (pd.errors.ParserError, UnicodeDecodeError, pa.ArrowInvalid, OSError) as exc:
            kind = "Parquet file" if self.parquet else "CSV"
            raise self._refuse(f"not a readable {kind}", exc) from None
        except pd.errors.EmptyDataError as exc:
            raise self._refuse("not a readable CSV", exc) from None
        for wanted in (IMAGE_COLUMN, *self.carry):
            if wanted not in columns:
                raise self._refuse(
                    f"no '{wanted}' column (columns are: {', '.join(map(str, columns))})"
                )
        if self.parquet:
            import pyarrow.parquet as pq

            return pq.ParquetFile(self.path).metadata.num_rows
        return sum(len(names) for names, _ in self._chunks())

    def _chunks(self) -> Iterator[tuple[list[str], dict[str, list[str]]]]:
        """Chunks of the ``image`` column, each with the carried columns' values as text."""
        wanted = [IMAGE_COLUMN, *self.carry]
        if self.parquet:
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(self.path).iter_batches(
                batch_size=self.CHUNK_ROWS, columns=wanted
            ):
                names = [str(v) for v in batch.column(IMAGE_COLUMN).to_pylist()]
                yield names, {c: _texts(batch.column(c).to_pylist()) for c in self.carry}
            return
        try:
            for chunk in pd.read_csv(
                self.path,
                usecols=wanted,
                dtype=dict.fromkeys(wanted, str),
                keep_default_na=False,
                chunksize=self.CHUNK_ROWS,
            ):
                yield (
                    list(map(str, chunk[IMAGE_COLUMN])),
                    {c: list(map(str, chunk[c])) for c in self.carry},
                )
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise self._refuse("not a readable CSV", exc) from None


def csv_inputs(csv_path: Path, carry: Sequence[str] = ()) -> Manifest:
    """The ``image`` column of a manifest (CSV or Parquet), read as it is used."""
    return Manifest(csv_path, carry)


def _texts(values: list) -> list[str]:
    return ["" if v is None else str(v) for v in values]


def _csv_source(base: str, name: str) -> str:
    """Where a CSV's ``image`` value points: relative to the CSV's folder (an absolute name,
    a URI such as ``file:///photos/a.jpg`` or ``s3://bucket/a.jpg``, or a URL, which its row
    refuses, stays as it is). The value itself is kept exactly as
    written for the output's ``image`` column; a name padded with spaces reads the file
    of the name without them when only that one exists."""
    if is_url(name) or is_uri(name) or "\x00" in name or len(name) > MAX_PATH_BYTES:
        return name  # a URI names its file wherever the manifest is
    path = os.path.join(base, name)
    if name != name.strip() and not os.path.lexists(path):
        return os.path.join(base, name.strip())
    return path


def is_url(name: str) -> bool:
    """Whether ``name`` is a web address (``http://``, ``https://``)."""
    return name.lower().startswith(URL_SCHEMES)
