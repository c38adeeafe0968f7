"""What to process: a folder of photos (searched recursively) or a CSV with an ``image`` column."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from photoqc.images import IMAGE_EXTENSIONS

IMAGE_COLUMN = "image"


class InputError(ValueError):
    """The input folder or CSV cannot be used at all (as opposed to one bad image in it)."""


@dataclass(frozen=True)
class InputItem:
    """One image to process.

    Attributes
    ----------
    image : str
        The value written to the output's ``image`` column: the CSV's own value for CSV
        input (so tables join on it), the path as given plus the relative path for folders.
    path : Path
        Where to read the file.
    """

    image: str
    path: Path


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


def collect_inputs(source: str | Path) -> list[InputItem]:
    """List the images named by ``source``: a folder (recursive) or a ``.csv`` file.

    Raises
    ------
    InputError
        When ``source`` does not exist, is a CSV without an ``image`` column, or a folder
        without any image files.
    """
    source = Path(source)
    if source.is_dir():
        return folder_inputs(source)
    if source.is_file() and source.suffix.lower() == ".csv":
        return csv_inputs(source)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    raise InputError(f"{source}: expected a folder of images or a .csv file with an 'image' column")


def is_image_name(path: Path) -> bool:
    """True for file names ending in a known image extension (any case)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


def folder_inputs(folder: Path) -> list[InputItem]:
    """Files under ``folder`` (recursive, hidden skipped) with an image extension, sorted."""
    items = [
        InputItem(image=str(path), path=path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and is_image_name(path)
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    ]
    if not items:
        raise InputError(
            f"{folder}: no image files found (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    return items


def csv_inputs(csv_path: Path) -> list[InputItem]:
    """The ``image`` column of a CSV; relative paths are relative to the CSV's folder."""
    try:
        table = pd.read_csv(csv_path, dtype={IMAGE_COLUMN: str}, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{csv_path}: not a readable CSV ({exc})") from None
    if IMAGE_COLUMN not in table.columns:
        columns = ", ".join(map(str, table.columns))
        raise InputError(f"{csv_path}: no '{IMAGE_COLUMN}' column (columns are: {columns})")
    base = csv_path.parent
    items = []
    for value in table[IMAGE_COLUMN]:
        name = str(value).strip()
        path = Path(name)
        items.append(InputItem(image=name, path=path if path.is_absolute() else base / path))
    return items
