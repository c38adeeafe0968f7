"""Feature extraction over many images: load, segment, measure, one row per input.

A row is always produced, whatever happens to the file: ``status`` is ``ok`` with every
feature, or ``error`` with a message in ``error`` and NaN features. With ``workers > 1``
images are spread over processes, each of which builds its segmenter once.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import pandas as pd

from photoqc.features import compute_features, feature_names
from photoqc.features.base import ANALYSIS_LONG_SIDE
from photoqc.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image
from photoqc.pipelines.inputs import InputItem
from photoqc.segmentation import SegmenterConfig, build_segmenter

logger = logging.getLogger(__name__)

STATUS_OK = "ok"
STATUS_ERROR = "error"

META_COLUMNS = (
    "image",
    "status",
    "error",
    "segmenter",
    "segmenter_weights",
    "object_class",
    "object_score",
)
"""Columns before the features: identity, outcome and segmentation provenance."""


@dataclass(frozen=True)
class ExtractConfig:
    """Everything that decides a feature row besides the pixels (plain, picklable data)."""

    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)
    max_pixels: int = DEFAULT_MAX_PIXELS
    analysis_long_side: int = ANALYSIS_LONG_SIDE


def table_columns() -> tuple[str, ...]:
    """Column order of a feature table."""
    return (*META_COLUMNS, *feature_names())


class FeatureExtractor:
    """Turns one input into one row; holds the segmenter so it is built once."""

    def __init__(self, config: ExtractConfig):
        self.config = config
        self.segmenter = build_segmenter(config.segmenter)

    def row(self, item: InputItem) -> dict[str, object]:
        """The feature row of ``item``; never raises for a bad file."""
        try:
            image = load_image(item.path, max_pixels=self.config.max_pixels)
            seg = self.segmenter.segment(image.pixels)
            features = compute_features(
                image.pixels,
                seg.mask,
                image.jpeg_quantization,
                analysis_long_side=self.config.analysis_long_side,
            )
        except ImageLoadError as exc:
            return error_row(item, exc.cause, self.segmenter.name)
        except MemoryError:
            return error_row(item, "out of memory while processing this image", self.segmenter.name)
        except Exception as exc:  # one odd file must never end a batch of thousands
            logger.exception("unexpected failure on %s", item.path)
            return error_row(
                item, f"internal error: {type(exc).__name__}: {exc}", self.segmenter.name
            )
        return {
            "image": item.image,
            "status": STATUS_OK,
            "error": "",
            "segmenter": seg.segmenter,
            "segmenter_weights": seg.weights or "",
            "object_class": seg.label or "",
            "object_score": seg.score,
            **features,
        }


def error_row(item: InputItem, message: str, segmenter: str) -> dict[str, object]:
    """The row of an input that could not be processed: NaN features and the reason."""
    return {
        "image": item.image,
        "status": STATUS_ERROR,
        "error": message,
        "segmenter": segmenter,
        "segmenter_weights": "",
        "object_class": "",
        "object_score": math.nan,
        **dict.fromkeys(feature_names(), math.nan),
    }


def extract_rows(
    items: Iterable[InputItem],
    config: ExtractConfig,
    *,
    workers: int = 1,
) -> Iterator[tuple[int, dict[str, object]]]:
    """Yield ``(input index, row)`` for every item, in order of completion.

    ``config.segmenter`` should already be resolved (see
    :func:`photoqc.segmentation.resolve_segmenter`) so that workers agree on one segmenter.
    """
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        extractor = FeatureExtractor(config)
        for index, item in enumerate(items):
            yield index, extractor.row(item)
        return
    yield from _extract_parallel(items, config, workers)


def _extract_parallel(
    items: list[InputItem], config: ExtractConfig, workers: int
) -> Iterator[tuple[int, dict[str, object]]]:
    threads = max(1, (os.cpu_count() or 1) // workers)
    # spawn, not fork: a forked copy of a process that has started torch's thread pool can
    # deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(config, threads),
    ) as pool:
        pending = {pool.submit(_worker_row, item): i for i, item in enumerate(items)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                try:
                    row = future.result()
                except BrokenProcessPool:
                    row = error_row(
                        items[index], "worker process died (out of memory?)", config.segmenter.kind
                    )
                yield index, row


# One extractor per worker process, built by the pool's initializer: the model must be
# built once per process, not once per image.
_worker_extractor: FeatureExtractor | None = None


def _init_worker(config: ExtractConfig, threads: int) -> None:
    global _worker_extractor
    set_thread_count(threads)
    _worker_extractor = FeatureExtractor(config)


def _worker_row(item: InputItem) -> dict[str, object]:
    assert _worker_extractor is not None, "worker used before its initializer ran"
    return _worker_extractor.row(item)


def set_thread_count(threads: int) -> None:
    """Limit OpenCV's and torch's thread pools (per process) to ``threads``."""
    import cv2

    cv2.setNumThreads(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover - torch is a dependency, but features need not it
        pass


def rows_to_frame(rows: dict[int, dict[str, object]] | list[dict[str, object]]) -> pd.DataFrame:
    """A feature table from rows (a list, or a dict keyed by input index), columns in order."""
    ordered = [rows[i] for i in sorted(rows)] if isinstance(rows, dict) else list(rows)
    return pd.DataFrame(ordered, columns=list(table_columns()))
