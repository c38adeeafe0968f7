"""What the per-image core is fed: an image as a path, as bytes, or already decoded."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

from photoqc.images import LoadedImage

ImageSource = str | os.PathLike[str] | bytes | BinaryIO | LoadedImage
"""An image as a file path, as the encoded file's bytes (an upload held in memory), as an
open binary file (an upload spooled to disk), or as a :class:`photoqc.images.LoadedImage`
a caller already decoded."""


@dataclass(frozen=True, slots=True)
class InputItem:
    """One image to process (small: a batch job holds millions of them).

    Attributes
    ----------
    image : str
        The value written to the output's ``image`` column: the CSV's own value for CSV
        input (so tables join on it), the absolute path for folder input; always valid
        text (see :func:`photoqc.pipelines.batch.inputs.display_name`).
    source : ImageSource
        Where the pixels come from: a path (read when the item is processed, by whichever
        process does it), bytes, or a decoded image.
    carried : tuple of (column, value) pairs
        A manifest's other columns asked to be carried through to the output's row
        (``photoqc score --carry listing_id``), as text.
    """

    image: str
    source: ImageSource
    carried: tuple[tuple[str, str], ...] = ()


def as_item(value: InputItem | ImageSource) -> InputItem:
    """``value`` as an :class:`InputItem`, named by its path (or its decoded source, or
    ``<bytes>``) when it is not one already."""
    if isinstance(value, InputItem):
        return value
    if isinstance(value, LoadedImage):
        return InputItem(value.source, value)
    if isinstance(value, bytes | bytearray | memoryview):
        return InputItem("<bytes>", bytes(value))
    if hasattr(value, "read"):
        return InputItem("<upload>", value)
    return InputItem(os.fspath(value), value)
