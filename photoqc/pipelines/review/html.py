"""What both HTML reports share (the scores report, :mod:`.report`, and the listings report
of a ranked table, :mod:`.listings`): the error they raise, the page written from a
template with its data as safe JSON, and the pictures embedded or linked beside it."""

from __future__ import annotations

import base64
import json
from importlib import resources
from pathlib import Path

from photoqc.errors import PhotoqcError

EMBED_LIMIT = 2000
"""``--images auto`` embeds the pictures of up to this many rows, and links beyond."""

DATA_MARKER = "__PHOTOQC_DATA__"
"""Where a template takes its data."""


class ReportError(PhotoqcError):
    """The table given is not one a report can be made of."""


def embed_json(payload: object) -> str:
    """``payload`` as JSON that is safe inside an HTML ``<script>`` element: ``<``, ``>``,
    ``&`` and the JavaScript line separators U+2028/9 are escaped, so no string in the data
    (``</script>``, ``<!--``) can end the element or break the script."""
    text = json.dumps(payload, allow_nan=False, ensure_ascii=False)
    for char, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def image_mode(images: str, rows: int) -> str:
    """``embed`` or ``link``: what ``--images`` asked for, ``auto`` decided by the rows."""
    return images if images != "auto" else ("embed" if rows <= EMBED_LIMIT else "link")


def asset_folder(out_html: Path) -> Path:
    """The folder beside a report where linked pictures go (``REPORT_files/``)."""
    return out_html.with_name(out_html.stem + "_files")


def asset(data: bytes, mode: str, folder: Path, name: str) -> str:
    """A JPEG's address in the page: a data URL (``embed``), or a file written into
    ``folder`` beside the page (``link``)."""
    if mode == "embed":
        return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
    (folder / f"{name}.jpg").write_bytes(data)
    return f"{folder.name}/{name}.jpg"


def write_page(template: str, payload: object, out_html: Path) -> None:
    """Write ``out_html`` from the packaged ``template`` with ``payload`` as its data."""
    text = resources.files("photoqc").joinpath(template).read_text(encoding="utf-8")
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(text.replace(DATA_MARKER, embed_json(payload)), encoding="utf-8")
