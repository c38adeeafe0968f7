"""The report of a ranked table (``photoqc report ranked.csv``): one row per listing, its
photos in rank order with the cover marked, each with its verdict, reasons and ``why``.

Like the scores report it is one self-contained HTML file (inline CSS, data as JSON,
thumbnails embedded or linked beside it); the layout is a grid that puts a listing's
photos on one line on a desktop screen and wraps them two to a line on a phone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from photoqc.assess.covers import NO_PUBLISHABLE, RANK_COLUMNS
from photoqc.images import ImageLoadError, load_image
from photoqc.pipelines.batch.inputs import scored_image_file
from photoqc.pipelines.review.html import ReportError, asset, asset_folder, write_page
from photoqc.visuals import thumbnail_jpeg

RANKED_MARKERS = ("rank", "is_cover", "why", "duplicate_of")
"""Columns that make a table a ranked one (``photoqc rank``'s output)."""


def is_ranked_table(columns: list[str]) -> bool:
    """Whether a table with ``columns`` was written by ``photoqc rank``."""
    return all(c in columns for c in RANKED_MARKERS) and "image" in columns


def group_column(columns: list[str]) -> str:
    """The group column of a ranked table: the one before ``image``."""
    at = columns.index("image")
    if at == 0:
        raise ReportError("a ranked table's first column is its group column, before 'image'")
    return columns[at - 1]


def build_listings_report(
    ranked_csv: Path,
    out_html: Path,
    *,
    mode: str,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write the listings report of ``ranked_csv``, its pictures embedded or linked
    (``mode``); returns counts for the summary line: ``rows``, ``listings``,
    ``unpublishable``, ``duplicates``, ``with_image`` and ``verdicts`` (good, bad, error)."""
    frame = pd.read_csv(ranked_csv, dtype=str, keep_default_na=False)
    group = group_column(list(frame.columns))
    asset_dir = asset_folder(out_html)
    if mode == "link":
        asset_dir.mkdir(parents=True, exist_ok=True)
    listings: dict[str, dict] = {}
    counts = {"rows": len(frame), "with_image": 0, "duplicates": 0}
    verdicts = {"good": 0, "bad": 0, "error": 0}
    for i, record in enumerate(frame.to_dict("records")):
        name = record[group]
        listing = listings.setdefault(name, {"name": name, "photos": [], "publishable": True})
        status = record.get("status") or "ok"
        verdict = record.get("verdict") if status == "ok" else "error"
        verdicts[verdict if verdict in verdicts else "error"] += 1
        if record.get("why", "").startswith(NO_PUBLISHABLE):
            listing["publishable"] = False
        counts["duplicates"] += bool(record.get("duplicate_of"))
        thumb = ""
        path = scored_image_file(record["image"], ranked_csv)
        if path is not None:
            try:
                rgb = load_image(path).pixels
                thumb = asset(thumbnail_jpeg(rgb), mode, asset_dir, f"r{i}")
                counts["with_image"] += 1
            except ImageLoadError:
                pass
        listing["photos"].append(
            {
                **{k: record.get(k, "") for k in ("image", *RANK_COLUMNS)},
                "rank": int(record["rank"]) if record.get("rank", "").isdigit() else None,
                "is_cover": record.get("is_cover", "").lower() == "true",
                "verdict": verdict,
                "thumb": thumb,
            }
        )
        if on_progress:
            on_progress(i + 1, len(frame))
    for listing in listings.values():
        listing["photos"].sort(key=lambda p: (p["rank"] is None, p["rank"] or 0))
    unpublishable = sum(not listing["publishable"] for listing in listings.values())
    payload = {
        "title": f"photoqc covers: {ranked_csv.name}",
        "group": group,
        "report_id": hashlib.sha256(ranked_csv.read_bytes()).hexdigest()[:12],
        "listings": list(listings.values()),
        "summary": {
            "listings": len(listings),
            "unpublishable": unpublishable,
            "duplicates": counts["duplicates"],
            "photos": len(frame),
        },
    }
    write_page("listings_template.html", payload, out_html)
    return {
        **counts,
        "listings": len(listings),
        "unpublishable": unpublishable,
        "verdicts": verdicts,
    }
