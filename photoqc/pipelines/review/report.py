"""The moderator report (``photoqc report``): one self-contained HTML file from a scores CSV.

The page needs no network: CSS and JavaScript are inline and the data is embedded as
JSON. Thumbnails and detail images are embedded (``images="embed"``) or written beside
the report in ``<name>_files/`` and linked relatively (``"link"``, the default above
2,000 rows, to keep the HTML small). Moderators mark photos good or bad in the page and
export the marks as a labels CSV (absolute paths) that ``photoqc train`` reads.

With the model (``model_dir``) the page is the model's view as it is now: verdicts and
counts at its current threshold (after ``photoqc tune --write``), reasons and SHAP bars
computed from the CSV's feature columns, and the object mask drawn by the segmenter of
the model's recipe, with its settings, so the overlay is the mask that made the features.
Without it the page shows the CSV as written (its threshold, its ``reasons_json``), and
says so; masks then come from the built-in model's recipe when the CSV was scored with
it, else from each row's segmenter at its default settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from photoqc.assess.extractor import STATUS_ERROR, STATUS_OK
from photoqc.assess.recipe import ExtractConfig, RecipeError, RecipeOptions
from photoqc.assess.scorer import judge
from photoqc.features import FeatureSpec, spec_index, table_groups
from photoqc.images import ImageLoadError, load_image
from photoqc.models.bundle import BundleError, ModelBundle, default_model_dir, load_bundle
from photoqc.models.explain import push_label
from photoqc.pipelines.batch.inputs import scored_image_file
from photoqc.pipelines.review.html import (
    ReportError,
    asset,
    asset_folder,
    image_mode,
    write_page,
)
from photoqc.pipelines.review.listings import build_listings_report, is_ranked_table
from photoqc.segmentation import SegmenterConfig, build_segmenter
from photoqc.visuals import detail_jpeg, thumbnail_jpeg

logger = logging.getLogger(__name__)

SHAP_BARS = 12


@dataclass
class ReportResult:
    """What the report holds (photos by verdict: good, bad, error; how many have their
    picture), and notes for the person who made it."""

    verdicts: Counter[str] = field(default_factory=Counter)
    with_image: int = 0
    threshold_note: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(self.verdicts.values())


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _reasons_of(record: dict) -> list[dict]:
    """The reasons a CSV row was written with, as structured data."""
    raw = record.get("reasons_json")
    if isinstance(raw, str) and raw.strip():
        try:
            parsed = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, or a number past Python's limit
            parsed = None
        if isinstance(parsed, list):
            return [r for r in parsed if isinstance(r, dict) and r.get("text")]
    text = record.get("reasons")
    # A CSV from before reasons_json: its text is one reason, never re-split.
    if isinstance(text, str) and text.strip():
        return [{"family": "", "text": text.strip(), "feature": "", "value": None, "typical": None}]
    return []


def _model_for(
    model_dir: str | os.PathLike[str] | None, frame: pd.DataFrame
) -> tuple[ModelBundle | None, bool]:
    """The model whose view the report shows (and whether it was named), or None."""
    if model_dir is not None:
        return load_bundle(model_dir), True
    shas = set(frame.get("model_sha256", pd.Series(dtype=str)).dropna().astype(str))
    try:
        default = load_bundle(default_model_dir())
    except BundleError:  # pragma: no cover - the package ships it
        return None, False
    return (default if shas == {default.sha256} else None), False


def overlay_segmenter(bundle: ModelBundle, weights_dir: str | None = None) -> SegmenterConfig:
    """The segmenter, with the settings and weights of ``bundle``'s recipe, that draws the
    report's masks: the very masks that made the model's features.

    Raises
    ------
    RecipeError
        Its weights cannot be found here (the report never downloads).
    """
    recipe, _ = ExtractConfig.from_record(
        bundle.recipe,
        RecipeOptions(weights_dir=weights_dir, offline=True, nima=False),
        used_features=[],
    )
    return recipe.segmenter


class _Masks:
    """Object masks for the overlay: the model's recipe's segmenter, or each row's own."""

    def __init__(self, recipe: SegmenterConfig | None, weights_dir: str | None):
        self.recipe = recipe
        self.weights_dir = weights_dir
        self.built: dict[str, object] = {}

    def mask(self, kind: str, rgb: np.ndarray) -> np.ndarray | None:
        if kind in ("", "none"):
            return None
        if kind not in self.built:
            config = (
                self.recipe
                if self.recipe is not None and self.recipe.kind == kind
                else SegmenterConfig(kind=kind, weights_dir=self.weights_dir, allow_download=False)
            )
            try:
                self.built[kind] = build_segmenter(config)
            except Exception as exc:  # no weights here: the photo is shown without its mask
                logger.warning("no %s masks in the report: %s", kind, exc)
                self.built[kind] = None
        segmenter = self.built[kind]
        return segmenter.segment(rgb).mask if segmenter is not None else None


def _shap_bars(
    names: list[str],
    pushes: np.ndarray,
    specs: dict[str, FeatureSpec],
    record: dict,
    good: dict,
) -> list[dict]:
    """The strongest pushes of one photo's measured features, in words: what the feature
    measures, its value and good photos' typical value (features not measured are left
    out, whatever LightGBM does with a missing value)."""
    measured = [
        j
        for j, name in enumerate(names)
        if _number(pushes[j]) is not None and _number(record.get(name)) is not None
    ]
    measured.sort(key=lambda j: -abs(pushes[j]))
    bars = []
    for j in measured[:SHAP_BARS]:
        spec = specs.get(names[j]) or FeatureSpec(names[j], names[j])
        typical = good.get(names[j])
        bars.append(
            {
                "label": spec.label,
                "family": spec.family,
                "feature": spec.name,
                "value": spec.format(float(record[names[j]])),
                "typical": spec.format(typical.median)
                if typical is not None and math.isfinite(typical.median)
                else "",
                "push": round(float(pushes[j]), 4),
                "says": push_label(float(pushes[j])),
            }
        )
    return bars


def build_report(
    scores_csv: str | os.PathLike[str],
    out_html: str | os.PathLike[str],
    *,
    model_dir: str | os.PathLike[str] | None = None,
    images: str = "auto",
    overlays: bool = True,
    weights_dir: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ReportResult:
    """Write the report; returns what it holds and notes to show (see the module docstring).

    Raises
    ------
    ReportError
        The CSV is not a scores CSV; BundleError or RecipeError for an unusable model.
    """
    scores_csv, out_html = Path(scores_csv), Path(out_html)
    frame = pd.read_csv(scores_csv, keep_default_na=False, na_values=[""], dtype={"image": str})
    if is_ranked_table(list(frame.columns)):
        return _listings_report(scores_csv, out_html, images, len(frame), on_progress)
    if not {"image", "status"} <= set(frame.columns):
        raise ReportError(f"{scores_csv}: not a scores CSV (needs image and status columns)")
    result = ReportResult()
    bundle, named = _model_for(model_dir, frame)
    ok = (frame["status"] == STATUS_OK).to_numpy()
    p_good = pd.to_numeric(frame.get("p_good"), errors="coerce").to_numpy(np.float64)

    shap_names = [c[len("shap_") :] for c in frame.columns if c.startswith("shap_")]
    shap_values = frame[[f"shap_{n}" for n in shap_names]].to_numpy(np.float64)
    segmenter_recipe = None
    if named and bundle is not None:
        threshold: float | None = bundle.threshold
        result.threshold_note = (
            f"verdicts at the model's current threshold {threshold:.3f} "
            f"({bundle.meta.get('threshold_rule', '')})"
        )
        shap_names = bundle.feature_names
        shap_values = np.full((len(frame), len(shap_names)), np.nan)
        if ok.any():
            shap_values[ok], _ = bundle.contributions(frame[ok])
    else:
        thresholds = sorted({v for v in frame.get("threshold", []) if _number(v) is not None})
        threshold = float(thresholds[0]) if len(thresholds) == 1 else None
        shown = ", ".join(f"{float(t):.3f}" for t in thresholds) or "none"
        result.threshold_note = (
            f"verdicts as written in the scores CSV, at threshold {shown}; pass --model to "
            "show the model's current threshold"
        )
    specs = bundle.specs if bundle is not None else spec_index(table_groups())
    if bundle is not None and overlays:
        try:
            segmenter_recipe = overlay_segmenter(bundle, weights_dir)
        except RecipeError as exc:
            result.notes.append(f"no object masks: the model's segmenter is unavailable ({exc})")
            overlays = False
    elif overlays:
        result.notes.append(
            "masks drawn with each row's segmenter at its default settings; pass --model to "
            "draw the model's own masks"
        )

    mode = image_mode(images, len(frame))
    asset_dir = asset_folder(out_html)
    if mode == "link":
        asset_dir.mkdir(parents=True, exist_ok=True)
    masks = _Masks(segmenter_recipe, weights_dir)
    good_ranges = bundle.good_ranges if named and bundle is not None else {}
    rows = []
    for i, record in enumerate(frame.to_dict("records")):
        row_ok = bool(ok[i])
        p = _number(p_good[i]) if row_ok else None
        if named and bundle is not None and row_ok and p is not None:
            label, found = judge(bundle, record, p, shap_values[i], specs, good_ranges)
            reasons = [r.to_dict() for r in found]
        else:
            label = str(record.get("verdict") or "") if row_ok else STATUS_ERROR
            reasons = _reasons_of(record) if row_ok else []
        path = scored_image_file(str(record["image"]), scores_csv)
        thumb = detail = ""
        if path is not None:
            try:
                rgb = load_image(path).pixels
                kind = str(record.get("segmenter") or "")
                mask = masks.mask(kind, rgb) if overlays else None
                thumb = asset(thumbnail_jpeg(rgb), mode, asset_dir, f"t{i}")
                detail = asset(detail_jpeg(rgb, mask), mode, asset_dir, f"d{i}")
                result.with_image += 1
            except ImageLoadError:
                pass
        rows.append(
            {
                "id": i,
                "image": str(record["image"]),
                "path": str(path) if path else str(record["image"]),
                "status": str(record["status"]),
                "error": str(record.get("error") or ""),
                "p_good": p,
                "verdict": label,
                "threshold": threshold if named else _number(record.get("threshold")),
                "reasons": reasons,
                "segmenter": str(record.get("segmenter") or ""),
                "thumb": thumb,
                "detail": detail,
                "shap": _shap_bars(shap_names, shap_values[i], specs, record, good_ranges),
            }
        )
        if on_progress:
            on_progress(i + 1, len(frame))
    digest = hashlib.sha256(scores_csv.read_bytes()).hexdigest()[:12]
    payload = {
        "title": f"photoqc report: {scores_csv.name}",
        "report_id": digest,
        "threshold_note": result.threshold_note,
        "rows": rows,
    }
    write_page("report_template.html", payload, out_html)
    result.verdicts.update(r["verdict"] if r["status"] == STATUS_OK else STATUS_ERROR for r in rows)
    return result


def _listings_report(ranked_csv, out_html, images, rows, on_progress) -> ReportResult:
    """A ranked table's report: one row per listing (:mod:`.listings`)."""
    counts = build_listings_report(
        ranked_csv, out_html, mode=image_mode(images, rows), on_progress=on_progress
    )
    result = ReportResult(with_image=counts["with_image"])
    result.verdicts.update(counts["verdicts"])
    result.threshold_note = (
        f"{counts['listings']} listings in rank order, the cover marked; "
        f"{counts['unpublishable']} with no publishable photo, "
        f"{counts['duplicates']} near-duplicates"
    )
    return result
