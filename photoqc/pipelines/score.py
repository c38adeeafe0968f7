"""Score photos with a trained model (``photoqc score``), resumably.

Each row: ``image, status, error, p_good, verdict, threshold, reasons, segmenter``,
provenance, every feature, and with ``--shap`` a ``shap_<feature>`` column per model
feature (log-odds of "good"). Rows are appended to the CSV as their batch finishes and the
file is flushed to disk, so a run that is killed loses at most the batches in flight.
Started again with the same arguments it reads which images are already in the file
(dropping a half-written last line) and scores only the rest: no row lost, none twice.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from photoqc.models.bundle import ModelBundle, load_bundle
from photoqc.models.explain import reasons_text, top_reasons
from photoqc.pipelines.extract import STATUS_OK, ExtractConfig, FeatureExtractor
from photoqc.pipelines.inputs import InputItem
from photoqc.pipelines.parallel import batch_size_for, batched, run_batches

logger = logging.getLogger(__name__)

SCORE_COLUMNS = (
    "image",
    "status",
    "error",
    "p_good",
    "verdict",
    "threshold",
    "reasons",
    "segmenter",
)
PROVENANCE_COLUMNS = ("segmenter_weights", "object_class", "object_score", "nima")
DEFAULT_TOP_REASONS = 3


class ScoringSetupError(ValueError):
    """The model cannot be used as asked (segmenter or NIMA mismatch, existing output...)."""


def score_columns(config: ExtractConfig, bundle: ModelBundle, with_shap: bool) -> list[str]:
    """Column order of a scores CSV."""
    columns = [*SCORE_COLUMNS, *PROVENANCE_COLUMNS, *config.feature_names()]
    if with_shap:
        columns += [f"shap_{name}" for name in bundle.feature_names]
    return columns


def verdict(p_good: float, threshold: float) -> str:
    """``good`` when p_good >= threshold, else ``bad``."""
    return "good" if p_good >= threshold else "bad"


class Scorer:
    """Inputs to scored rows; loads the model bundle and the feature models once.

    Parameters
    ----------
    bundle_dir : path or ModelBundle
        The model folder, or a bundle already loaded in this process (worker processes
        are handed the folder and load it themselves).
    config : ExtractConfig
        Feature settings (see :func:`scoring_config`; must match the model's).
    with_shap : bool
        Add ``shap_<feature>`` columns.
    top : int
        Reasons per photo.
    """

    def __init__(
        self,
        bundle_dir: str | ModelBundle,
        config: ExtractConfig,
        with_shap: bool = False,
        top: int = DEFAULT_TOP_REASONS,
    ):
        self.bundle = bundle_dir if isinstance(bundle_dir, ModelBundle) else load_bundle(bundle_dir)
        self.extractor = FeatureExtractor(config)
        self.config = config
        self.with_shap = with_shap
        self.top = top
        self.columns = score_columns(config, self.bundle, with_shap)
        self.typical = self.bundle.good_medians

    def rows(self, items: Sequence[InputItem]) -> list[dict[str, object]]:
        feature_rows = self.extractor.rows(items)
        ok = [i for i, r in enumerate(feature_rows) if r["status"] == STATUS_OK]
        out = [self._row(r) for r in feature_rows]
        if not ok:
            return out
        frame = pd.DataFrame([feature_rows[i] for i in ok])
        p_good = self.bundle.predict_good(frame)
        contributions, _ = self.bundle.contributions(frame)
        threshold = self.bundle.threshold
        names = self.bundle.feature_names
        for j, i in enumerate(ok):
            reasons = top_reasons(
                feature_rows[i], contributions[j], names, self.typical, top=self.top
            )
            out[i].update(
                p_good=float(p_good[j]),
                verdict=verdict(float(p_good[j]), threshold),
                threshold=threshold,
                reasons=reasons_text(reasons),
            )
            if self.with_shap:
                out[i].update(
                    {f"shap_{n}": float(c) for n, c in zip(names, contributions[j], strict=True)}
                )
        return out

    def _row(self, feature_row: dict[str, object]) -> dict[str, object]:
        row = dict.fromkeys(self.columns, math.nan)
        row.update({k: v for k, v in feature_row.items() if k in row})
        row.update(p_good=math.nan, verdict="", threshold=self.bundle.threshold, reasons="")
        return row

    def error_row(self, item: InputItem, message: str) -> dict[str, object]:
        return self._row(self.extractor.error_row(item, message))


def scoring_config(
    bundle: ModelBundle,
    *,
    segmenter: str | None = None,
    allow_segmenter_mismatch: bool = False,
    weights_dir: str | None = None,
    nima_weights: Sequence[str] = (),
    allow_download: bool = True,
    max_pixels: int | None = None,
    batch_size: int = 16,
) -> tuple[ExtractConfig, list[str]]:
    """The feature settings that reproduce the model's features, and warnings to show.

    The segmenter is the model's, unless ``segmenter`` names another and
    ``allow_segmenter_mismatch`` is set. NIMA weights must be the very files (by sha256)
    the model was trained with, for every NIMA feature it uses.

    Raises
    ------
    ScoringSetupError, photoqc.weights.WeightsNotFoundError
    """
    from photoqc.models.nima_predict import nima_model_names, resolve_nima_weights
    from photoqc.models.nima_weights import model_name_from_path, read_nima_meta
    from photoqc.pipelines.cache import file_sha256
    from photoqc.segmentation import SegmenterConfig, resolve_segmenter

    trained = bundle.segmenter
    warnings: list[str] = []
    kind = trained["kind"]
    if segmenter and segmenter != kind:
        if not allow_segmenter_mismatch:
            raise ScoringSetupError(
                f"the model was trained with the {kind!r} segmenter, not {segmenter!r}; its object "
                "features would mean something else. Pass --allow-segmenter-mismatch to do it "
                "anyway"
            )
        warnings.append(
            f"scoring with segmenter {segmenter!r}; the model was trained with {kind!r}"
        )
        kind = segmenter
    seg = SegmenterConfig(
        kind=kind,
        variant=trained.get("variant", "v1"),
        weights_dir=weights_dir,
        analysis_size=int(trained.get("analysis_size", 512)),
        min_score=float(trained.get("min_score", 0.5)),
        allow_download=allow_download,
    )
    try:
        seg, fallback = resolve_segmenter(seg)
    except Exception:
        if not allow_segmenter_mismatch:
            raise
        seg, fallback = resolve_segmenter(
            SegmenterConfig(kind="auto", allow_download=allow_download)
        )
    if fallback:
        warnings.append(fallback)

    needed = {
        m["name"]: m
        for m in bundle.nima
        if any(f.startswith(f"nima_{m['name']}_") for f in bundle.feature_names)
    }
    chosen: list[str] = []
    available = {
        str(read_nima_meta(p).get("name") or model_name_from_path(p)): p
        for p in resolve_nima_weights(nima_weights, weights_dir)
    }
    for name, record in needed.items():
        path = available.get(name)
        if path is None:
            raise ScoringSetupError(
                f"the model uses NIMA {name} features (trained with {record['file']}); "
                "pass that file "
                "with --nima-weights or put it in --weights-dir"
            )
        if record.get("sha256") and file_sha256(path) != record["sha256"]:
            raise ScoringSetupError(
                f"{path}: not the NIMA {name} weights the model was trained with "
                f"({record['file']}, "
                f"sha256 {record['sha256'][:12]}...)"
            )
        chosen.append(path)
    record = bundle.meta["feature_config"]
    config = ExtractConfig(
        segmenter=seg,
        nima_weights=tuple(chosen),
        nima_models=nima_model_names(chosen),
        max_pixels=int(max_pixels or record.get("max_pixels", ExtractConfig().max_pixels)),
        analysis_long_side=int(
            record.get("analysis_long_side", ExtractConfig().analysis_long_side)
        ),
        batch_size=batch_size,
    )
    return config, warnings


class ResumableCsv:
    """A CSV written row batch by row batch that a later run can continue.

    Opening an existing file checks its header equals ``columns``, cuts a half-written last
    line, and counts the images already in it (:attr:`done`).
    """

    def __init__(
        self, path: str | os.PathLike[str], columns: Sequence[str], *, overwrite: bool = False
    ):
        self.path = Path(path)
        self.columns = list(columns)
        self.done: Counter[str] = Counter()
        if overwrite or not self.path.exists() or self.path.stat().st_size == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("w", newline="") as handle:
                csv.writer(handle).writerow(self.columns)
        else:
            self._resume()

    def _resume(self) -> None:
        with self.path.open(newline="") as handle:
            header = next(csv.reader(handle), [])
        if header != self.columns:
            raise ScoringSetupError(
                f"{self.path} exists with other columns (another model, or with/without --shap); "
                "use another --out, or --overwrite to start again"
            )
        self._drop_partial_line()
        done = pd.read_csv(self.path, usecols=["image"], dtype=str, keep_default_na=False)
        self.done = Counter(done["image"])

    def _drop_partial_line(self) -> None:
        with self.path.open("rb+") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            position = size
            while position > 0:
                step = min(65536, position)
                handle.seek(position - step)
                block = handle.read(step)
                newline = block.rfind(b"\n")
                if newline >= 0:
                    end = position - step + newline + 1
                    if end < size:
                        logger.warning("%s: dropping a half-written last line", self.path)
                        handle.truncate(end)
                    return
                position -= step

    def write(self, rows: Sequence[dict[str, object]]) -> None:
        """Append rows, flush and sync so that they survive the process being killed."""
        with self.path.open("a", newline="") as handle:
            writer = csv.writer(handle)
            for row in rows:
                writer.writerow([_cell(row.get(c)) for c in self.columns])
            handle.flush()
            os.fsync(handle.fileno())


def _cell(value: object) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str):
        return value.replace("\r", " ").replace("\n", " ")  # one row, one line
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return value


def remaining(items: Sequence[InputItem], done: Counter[str]) -> list[InputItem]:
    """Items not yet in the output (an image listed twice needs two rows)."""
    left = Counter(done)
    todo = []
    for item in items:
        if left[item.image] > 0:
            left[item.image] -= 1
        else:
            todo.append(item)
    return todo


@dataclass
class ScoreSummary:
    total: int
    already_done: int
    scored: int
    errors: int
    good: int
    bad: int


def score_to_csv(
    items: Sequence[InputItem],
    bundle_dir: str | os.PathLike[str],
    config: ExtractConfig,
    out: str | os.PathLike[str],
    *,
    with_shap: bool = False,
    workers: int = 1,
    overwrite: bool = False,
    top: int = DEFAULT_TOP_REASONS,
    on_rows: Callable[[int], None] | None = None,
) -> ScoreSummary:
    """Score ``items`` into the CSV ``out``, continuing a previous run of the same job."""
    bundle = load_bundle(bundle_dir)
    writer = ResumableCsv(out, score_columns(config, bundle, with_shap), overwrite=overwrite)
    todo = remaining(items, writer.done)
    summary = ScoreSummary(len(items), len(items) - len(todo), 0, 0, 0, 0)
    size = batch_size_for(len(todo), config.batch_size, workers)
    pending: dict[int, list[dict[str, object]]] = {}
    batches = batched(todo, size)
    batch_of = {i: b for b, batch in enumerate(batches) for i, _ in batch}
    # In this process the bundle loaded above serves; workers load it from its folder.
    source = bundle if workers <= 1 else str(bundle_dir)
    for index, row in run_batches(
        batches, Scorer, (source, config, with_shap, top), workers=workers
    ):
        b = batch_of[index]
        pending.setdefault(b, []).append(row)
        if len(pending[b]) == len(batches[b]):
            rows = pending.pop(b)
            writer.write(rows)
            summary.scored += len(rows)
            summary.errors += sum(r["status"] != STATUS_OK for r in rows)
            summary.good += sum(r["verdict"] == "good" for r in rows)
            summary.bad += sum(r["verdict"] == "bad" for r in rows)
            if on_rows:
                on_rows(len(rows))
    return summary
