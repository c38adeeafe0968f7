"""The moderator report (``photoqc report``): one self-contained HTML file from a scores CSV.

The page needs no network: CSS and JavaScript are inline and the data is embedded as
JSON. Thumbnails and detail images are embedded (``images="embed"``) or written beside
the report in ``<name>_files/`` and linked relatively (``"link"``, the default above
2,000 rows, to keep the HTML small). The detail view shows the photo with the object mask
drawn over it (the segmenter of each row is run again; ``overlays=False`` skips that) and
the SHAP contributions as a bar chart (from ``shap_*`` columns, or computed from the
feature columns when a model folder is given). Moderators mark photos good or bad in the
page and export the marks as a labels CSV (absolute paths) that ``photoqc train`` reads.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from photoqc.images import ImageLoadError, load_image
from photoqc.pipelines.inputs import scored_image_paths
from photoqc.visuals import jpeg_bytes, mask_overlay, shrink

logger = logging.getLogger(__name__)

EMBED_LIMIT = 2000
THUMB_SIZE = 160
DETAIL_SIZE = 480
SHAP_BARS = 12


def _image_path(image: str, scores_csv: Path) -> Path | None:
    return next((p for p in scored_image_paths(image, scores_csv) if p.is_file()), None)


def _shap_of(frame: pd.DataFrame, model_dir: str | None) -> tuple[list[str], np.ndarray | None]:
    columns = [c for c in frame.columns if c.startswith("shap_")]
    if columns:
        return [c[len("shap_") :] for c in columns], frame[columns].to_numpy(np.float64)
    if model_dir is None:
        return [], None
    from photoqc.models.bundle import load_bundle

    bundle = load_bundle(model_dir)
    values = np.full((len(frame), len(bundle.feature_names)), np.nan)
    ok = (frame["status"] == "ok").to_numpy()
    if ok.any():
        values[ok], _ = bundle.contributions(frame[ok])
    return bundle.feature_names, values


class _Segmenters:
    """Segmenters by kind, built on first use (the report re-draws each row's mask)."""

    def __init__(self, weights_dir: str | None):
        self.weights_dir = weights_dir
        self.built: dict[str, object] = {}

    def mask(self, kind: str, rgb: np.ndarray) -> np.ndarray | None:
        from photoqc.segmentation import SegmenterConfig, build_segmenter

        if kind not in {"grabcut", "maskrcnn"}:
            return None
        if kind not in self.built:
            try:
                config = SegmenterConfig(
                    kind=kind, weights_dir=self.weights_dir, allow_download=False
                )
                self.built[kind] = build_segmenter(config)
            except Exception as exc:  # no weights here: the report shows the photo without mask
                logger.warning("no %s masks in the report: %s", kind, exc)
                self.built[kind] = None
        segmenter = self.built[kind]
        return segmenter.segment(rgb).mask if segmenter else None


def build_report(
    scores_csv: str | os.PathLike[str],
    out_html: str | os.PathLike[str],
    *,
    model_dir: str | None = None,
    images: str = "auto",
    overlays: bool = True,
    weights_dir: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Write the report; returns counts (rows, good, bad, error, with_image)."""
    scores_csv, out_html = Path(scores_csv), Path(out_html)
    frame = pd.read_csv(scores_csv, keep_default_na=False, na_values=[""])
    if not {"image", "status"} <= set(frame.columns):
        raise ValueError(f"{scores_csv}: not a scores CSV (needs image and status columns)")
    mode = images if images != "auto" else ("embed" if len(frame) <= EMBED_LIMIT else "link")
    asset_dir = out_html.with_name(out_html.stem + "_files")
    if mode == "link":
        asset_dir.mkdir(parents=True, exist_ok=True)
    shap_names, shap_values = _shap_of(frame, model_dir)
    segmenters = _Segmenters(weights_dir)
    rows = []
    with_image = 0
    for i, record in enumerate(frame.to_dict("records")):
        path = _image_path(str(record["image"]), scores_csv)
        thumb = detail = ""
        if path is not None:
            try:
                rgb = load_image(path).pixels
                mask = segmenters.mask(str(record.get("segmenter", "")), rgb) if overlays else None
                small = shrink(rgb, DETAIL_SIZE)
                if mask is not None:
                    mask = shrink(mask.astype(np.uint8) * 255, DETAIL_SIZE) >= 128
                thumb = _asset(
                    jpeg_bytes(shrink(rgb, THUMB_SIZE), 75), mode, asset_dir, f"t{i}", out_html
                )
                detail = _asset(
                    jpeg_bytes(mask_overlay(small, mask), 80), mode, asset_dir, f"d{i}", out_html
                )
                with_image += 1
            except ImageLoadError:
                pass
        p_good = record.get("p_good")
        rows.append(
            {
                "id": i,
                "image": str(record["image"]),
                "path": str(path) if path else str(record["image"]),
                "status": str(record["status"]),
                "error": str(record.get("error") or ""),
                "p_good": None
                if p_good is None or (isinstance(p_good, float) and math.isnan(p_good))
                else float(p_good),
                "verdict": str(
                    record.get("verdict") or ("error" if record["status"] != "ok" else "")
                ),
                "threshold": _num(record.get("threshold")),
                "reasons": [r for r in str(record.get("reasons") or "").split("; ") if r],
                "segmenter": str(record.get("segmenter", "")),
                "thumb": thumb,
                "detail": detail,
                "shap": _top_shap(shap_names, shap_values[i]) if shap_values is not None else [],
            }
        )
        if on_progress:
            on_progress(i + 1, len(frame))
    digest = hashlib.sha256(scores_csv.read_bytes()).hexdigest()[:12]
    payload = {"title": f"photoqc report: {scores_csv.name}", "report_id": digest, "rows": rows}
    template = (
        resources.files("photoqc").joinpath("report_template.html").read_text(encoding="utf-8")
    )
    data = json.dumps(payload, allow_nan=False).replace("</", "<\\/")
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(template.replace("__PHOTOQC_DATA__", data), encoding="utf-8")
    verdicts = pd.Series([r["verdict"] for r in rows], dtype=str)
    return {
        "rows": len(rows),
        "good": int((verdicts == "good").sum()),
        "bad": int((verdicts == "bad").sum()),
        "error": int((frame["status"] != "ok").sum()),
        "with_image": with_image,
    }


def _num(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _top_shap(names: list[str], values: np.ndarray) -> list[list[object]]:
    if not names or np.isnan(values).all():
        return []
    order = np.argsort(-np.abs(np.nan_to_num(values)))[:SHAP_BARS]
    return [[names[j], round(float(values[j]), 4)] for j in order if not math.isnan(values[j])]


def _asset(data: bytes, mode: str, folder: Path, name: str, out_html: Path) -> str:
    if mode == "embed":
        return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
    (folder / f"{name}.jpg").write_bytes(data)
    return f"{folder.name}/{name}.jpg"
