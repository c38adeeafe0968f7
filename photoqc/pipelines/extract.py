"""Feature extraction over many images: load, segment, NIMA, measure; one row per input.

A row is always produced, whatever happens to the file: ``status`` is ``ok`` with every
feature, or ``error`` with a message in ``error`` and NaN features. Images go through in
batches (NIMA runs once per batch); with ``workers > 1`` batches are spread over
processes, each of which builds its segmenter and NIMA networks once.
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import pandas as pd

from photoqc.features import compute_features
from photoqc.images import ImageLoadError, LoadedImage, load_image
from photoqc.pipelines.inputs import InputItem
from photoqc.pipelines.outputs import (
    Interrupted,
    OutputLock,
    ResumableCsv,
    StaleOutputError,
    finish_table,
    journal_path,
)
from photoqc.pipelines.parallel import (
    batch_size_for,
    batched,
    in_input_order,
    item_rows,
    run_batches,
)
from photoqc.pipelines.recipe import TEXT_COLUMNS, ExtractConfig
from photoqc.pipelines.tables import check_table_path
from photoqc.segmentation import SegmentationResult, build_segmenter

logger = logging.getLogger(__name__)

STATUS_OK = "ok"
STATUS_ERROR = "error"


class FeatureExtractor:
    """Turns inputs into rows; holds the segmenter and NIMA so each is built once."""

    def __init__(self, config: ExtractConfig):
        self.config = config
        self.groups = config.groups()
        self.segmenter = build_segmenter(config.segmenter)
        self.nima = None
        if config.nima_weights:
            from photoqc.models.nima_predict import NimaPredictor

            self.nima = NimaPredictor(config.nima_weights)
        self.nima_provenance = self.nima.provenance() if self.nima else "off"

    def row(self, item: InputItem) -> dict[str, object]:
        """The feature row of one input; never raises for a bad file."""
        return self.rows([item])[0]

    def rows(self, items: Sequence[InputItem]) -> list[dict[str, object]]:
        """Feature rows of a batch of inputs, in order; never raises for a bad file."""
        rows: list[dict[str, object] | None] = [None] * len(items)
        staged: list[tuple[int, LoadedImage, SegmentationResult]] = []
        for i, item in enumerate(items):
            try:
                image = load_image(item.path, max_pixels=self.config.max_pixels)
                staged.append((i, image, self.segmenter.segment(image.pixels)))
            except Exception as exc:  # one odd file must never end a batch of thousands
                rows[i] = self._failure(item, exc)
        nima_scores = self._nima_scores([image.pixels for _, image, _ in staged])
        for (i, image, seg), nima in zip(staged, nima_scores, strict=True):
            try:
                features = compute_features(
                    image.pixels,
                    seg.mask,
                    image.jpeg_quantization,
                    groups=self.groups,
                    analysis_long_side=self.config.analysis_long_side,
                    nima=nima,
                    jpeg_subsampling=image.jpeg_subsampling,
                )
            except Exception as exc:
                rows[i] = self._failure(items[i], exc)
                continue
            rows[i] = {
                "image": items[i].image,
                "status": STATUS_OK,
                "error": "",
                "segmenter": seg.segmenter,
                "segmenter_weights": seg.weights or "",
                "object_class": seg.label or "",
                "object_score": seg.score,
                "nima": self.nima_provenance,
                **features,
            }
        return rows  # type: ignore[return-value]

    def _nima_scores(self, images: list) -> list[dict[str, tuple[float, float]] | None]:
        if self.nima is None or not images:
            return [None] * len(images)
        try:
            return self.nima.scores(images)
        except Exception:  # a failed batch loses its NIMA values, not its rows
            logger.exception("NIMA failed on a batch of %d images", len(images))
            return [None] * len(images)

    def error_row(self, item: InputItem, message: str) -> dict[str, object]:
        """The row of ``item`` when it could not be processed."""
        return error_row(item, message, self.segmenter.name, self.config)

    def _failure(self, item: InputItem, exc: BaseException) -> dict[str, object]:
        if isinstance(exc, ImageLoadError):
            message = exc.cause
        elif isinstance(exc, MemoryError):
            message = "out of memory while processing this image"
        else:
            logger.exception("unexpected failure on %s", item.path)
            message = f"internal error: {type(exc).__name__}: {exc}"
        return self.error_row(item, message)


def error_row(
    item: InputItem, message: str, segmenter: str, config: ExtractConfig
) -> dict[str, object]:
    """The row of an input that could not be processed: NaN features and the reason."""
    return {
        "image": item.image,
        "status": STATUS_ERROR,
        "error": message,
        "segmenter": segmenter,
        "segmenter_weights": "",
        "object_class": "",
        "object_score": math.nan,
        "nima": "",
        **dict.fromkeys(config.feature_names(), math.nan),
    }


def extract_rows(
    items: Iterable[InputItem],
    config: ExtractConfig,
    *,
    workers: int = 1,
) -> Iterator[tuple[int, dict[str, object]]]:
    """Yield ``(input index, row)`` for every item, batch by batch as batches finish.

    ``config`` should already be resolved (:meth:`ExtractConfig.resolve`) so that workers
    agree on one segmenter.
    """
    items = list(items)
    size = batch_size_for(len(items), config.batch_size, workers)
    yield from item_rows(
        run_batches(batched(items, size), FeatureExtractor, (config,), workers=workers)
    )


def rows_to_frame(
    rows: dict[int, dict[str, object]] | list[dict[str, object]],
    config: ExtractConfig,
) -> pd.DataFrame:
    """A feature table from rows (a list, or a dict keyed by input index), columns in order."""
    ordered = [rows[i] for i in sorted(rows)] if isinstance(rows, dict) else list(rows)
    return pd.DataFrame(ordered, columns=list(config.columns()))


@dataclass
class FeatureSummary:
    """What ``photoqc features`` wrote: rows in the table, errors among them (the first
    few with their messages), and how many came from an interrupted run resumed."""

    rows: int = 0
    errors: int = 0
    already_done: int = 0
    first_errors: list[tuple[str, str]] = field(default_factory=list)

    def add(self, rows: Sequence[dict[str, object]]) -> None:
        self.rows += len(rows)
        for row in rows:
            if row["status"] != STATUS_OK:
                self.errors += 1
                if len(self.first_errors) < 10:
                    self.first_errors.append((str(row["image"]), str(row["error"])))


def write_features(
    items: Sequence[InputItem],
    config: ExtractConfig,
    out: str | os.PathLike[str],
    *,
    workers: int = 1,
    on_rows: Callable[[int], None] | None = None,
) -> FeatureSummary:
    """Measure ``items`` into the table ``out`` (``photoqc features``).

    One row per input, in input order. Rows
    stream into a journal beside ``out`` as batches finish, so memory stays flat and an
    interrupted run resumes when the same command runs again; the table itself appears
    only when complete, at once (see :mod:`photoqc.pipelines.outputs`). ``on_rows(n)`` is
    called as rows are written.

    Raises
    ------
    OutputError
        Another process writes ``out``, or the disk is full.
    Interrupted
        On Ctrl-C or SIGTERM, with how many rows the journal keeps.
    """
    out = check_table_path(out)
    fingerprint = config.fingerprint()
    summary = FeatureSummary()
    with OutputLock(out):
        columns = [*config.columns(), "recipe"]
        try:
            journal = ResumableCsv(journal_path(out), columns, run={"recipe": fingerprint})
        except StaleOutputError:
            logger.warning("an interrupted run with other settings left %s: starting again", out)
            journal = ResumableCsv(journal_path(out), columns, overwrite=True)
        todo = remaining(items, journal.done)
        summary.already_done = len(items) - len(todo)
        size = batch_size_for(len(todo), config.batch_size, workers)
        try:
            for _, rows in in_input_order(
                run_batches(batched(todo, size), FeatureExtractor, (config,), workers=workers)
            ):
                journal.write([{**row, "recipe": fingerprint} for row in rows])
                summary.add(rows)
                if on_rows:
                    on_rows(len(rows))
        except KeyboardInterrupt:
            raise Interrupted(summary.already_done + summary.rows, journal.path) from None
        finish_table(journal.path, out, config.columns(), TEXT_COLUMNS)
    summary.rows += summary.already_done
    return summary


def remaining(items: Sequence[InputItem], done: Counter[str]) -> list[InputItem]:
    """Items not yet in an output (an image listed twice needs two rows)."""
    left = Counter(done)
    todo = []
    for item in items:
        if left[item.image] > 0:
            left[item.image] -= 1
        else:
            todo.append(item)
    return todo
