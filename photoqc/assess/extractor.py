"""The per-image core's first half: an image in, its feature row out, and what was
computed on the way (the decoded image, the object mask, the analysis-scale image).

A row is always produced, whatever happens to the image: ``status`` is ``ok`` with every
feature, or ``error`` with a message in ``error`` and NaN features (and the error itself
beside the row, for callers that answer by its kind, such as the HTTP service). Images go
through in batches, so NIMA runs once per batch; the segmenter and NIMA are built once per
extractor.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from photoqc.assess.items import ImageSource, InputItem, as_item
from photoqc.assess.recipe import ExtractConfig
from photoqc.errors import PhotoqcError
from photoqc.features import FeatureInput, measure
from photoqc.images import ImageLoadError, LoadedImage, load_image
from photoqc.segmentation import SegmentationResult, build_segmenter

if TYPE_CHECKING:
    from photoqc.models.networks import Batcher

logger = logging.getLogger(__name__)

STATUS_OK = "ok"
STATUS_ERROR = "error"


class InternalError(PhotoqcError):
    """Something failed that should not have: a bug, said as such (HTTP 500)."""

    http_status = 500
    code = "internal"


class NetworkFailure(PhotoqcError):
    """The networks the recipe needs could not run on a photo (HTTP 500): its row is an
    error, never a verdict made without them."""

    http_status = 500
    code = "network_failed"


class OutOfMemoryError(PhotoqcError):
    """The image needed more memory than the process could have (HTTP 503)."""

    http_status = 503
    code = "out_of_memory"


@dataclass
class Extraction:
    """One image measured.

    Attributes
    ----------
    row : dict
        The feature row (``image, status, error``, provenance, every feature).
    error : PhotoqcError or None
        Why the row is an error row; None when it is ``ok``.
    image : LoadedImage or None
        The decoded image (None when it could not be read).
    segmentation : SegmentationResult or None
        The segmenter's answer, whose ``mask`` the object features used.
    analysis_rgb : ndarray (h, w, 3) float32 0–255, or None
        The image at the features' analysis scale, as they measured it.
    embeddings : dict of str to ndarray, or None
        Each NIMA model's pooled embedding (float32), from the pass that gave its scores.
    stats : dict of str to ndarray, or None
        Each NIMA model's multi-level stats (float32), when the extractor was asked for
        them (``keep_stats``), from the same pass.
    """

    row: dict[str, object]
    error: PhotoqcError | None = None
    image: LoadedImage | None = None
    segmentation: SegmentationResult | None = None
    analysis_rgb: np.ndarray | None = None
    embeddings: dict[str, np.ndarray] | None = None
    stats: dict[str, np.ndarray] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def mask(self) -> np.ndarray | None:
        """The object mask at the image's size (True on the object), or None."""
        return self.segmentation.mask if self.segmentation is not None else None


EMBEDDINGS_KEY = "nima_embeddings"
"""Where :meth:`FeatureExtractor.rows` puts each image's NIMA embeddings when asked to
(``keep_embeddings``): ``{model name: list of floats}``, for training's read-out."""

STATS_KEY = "nima_stats"
"""Where :meth:`FeatureExtractor.rows` puts each image's multi-level stats when asked to
(``keep_stats``): ``{model name: float32 array}``, for training the network heads."""


class FeatureExtractor:
    """Turns inputs into rows; holds the segmenter and NIMA so each is built once.

    With ``keep_embeddings``, each ok row also carries its NIMA embeddings under
    :data:`EMBEDDINGS_KEY` (training's read-out needs them; tables leave them out).
    ``nima`` borrows another extractor's networks (the service's threads share one
    :class:`~photoqc.models.networks.Batcher`, so concurrent requests share forward
    passes); else the extractor builds and owns its own, gathering calls for
    ``nima_window_s`` seconds.

    What it holds — its NIMA batcher (when it owns it: a thread and the networks'
    sessions), its pool of measuring threads, the segmenter — is let go by :meth:`close`
    (idempotent; also on leaving a ``with`` block), and when the extractor is dropped
    without closing, on collection. A borrowed batcher is its owner's to close.
    """

    def __init__(
        self,
        config: ExtractConfig,
        keep_embeddings: bool = False,
        nima: Batcher | None = None,
        nima_window_s: float = 0.0,
        keep_stats: bool = False,
    ):
        self.config = config
        self.keep_embeddings = keep_embeddings
        self.keep_stats = keep_stats
        self.groups = config.groups()
        # NIMA's group reads the networks' outputs; the others only pixels, so they are
        # measured while the networks run (on the batcher's thread).
        self.pixel_groups = tuple(g for g in self.groups if g.name != "nima")
        self.nima_groups = tuple(g for g in self.groups if g.name == "nima")
        self.segmenter = build_segmenter(config.segmenter)
        self.nima = nima if config.nima_weights else None
        self.owns_nima = bool(config.nima_weights) and nima is None
        # What close() (or collection) lets go of; the pool joins it when first made.
        self._held: list = [self.segmenter]
        if self.owns_nima:
            from photoqc.models.nima import NimaPredictor

            self.nima = NimaPredictor(config.nima_weights, stats=keep_stats).batched(nima_window_s)
            self._held.append(self.nima)
        self._finalizer = weakref.finalize(self, _let_go, self._held)
        self.nima_provenance = self.nima.predictor.provenance() if self.nima else "off"

    def resources(self) -> dict[str, str]:
        """What it holds, in words: ``nima`` is ``owned``, ``borrowed`` or ``off``; ``batcher``
        names the NIMA thread; ``pool`` says how many measuring threads run."""
        pool = self.__dict__.get("_pool")
        return {
            "nima": "owned" if self.owns_nima else ("borrowed" if self.nima else "off"),
            "batcher": self.nima.name if self.nima else "",
            "pool": f"{pool._max_workers} threads" if pool is not None else "not started",
        }

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Stop the measuring threads and, when it owns them, the NIMA thread and the
        networks' sessions, waiting for work in flight; idempotent. A closed extractor
        refuses to measure."""
        if not self._finalizer.alive:
            return
        for thing in reversed(self._held):
            if isinstance(thing, ThreadPoolExecutor):
                thing.shutdown(wait=True, cancel_futures=True)
            elif hasattr(thing, "close"):
                thing.close()
        self._finalizer()

    def __enter__(self) -> FeatureExtractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def row(self, item: InputItem | ImageSource) -> dict[str, object]:
        """The feature row of one image; never raises for a bad file."""
        return self.extract([item])[0].row

    def rows(self, items: Sequence[InputItem | ImageSource]) -> list[dict[str, object]]:
        """Feature rows of a batch of images, in order; never raises for a bad file."""
        extracted = self.extract(items)
        rows = [e.row for e in extracted]
        if self.keep_embeddings:
            rows = [
                {**r, EMBEDDINGS_KEY: {k: v.tolist() for k, v in e.embeddings.items()}}
                if e.embeddings
                else r
                for r, e in zip(rows, extracted, strict=True)
            ]
        if self.keep_stats:
            rows = [
                {**r, STATS_KEY: dict(e.stats)} if e.stats else r
                for r, e in zip(rows, extracted, strict=True)
            ]
        return rows

    def extract(self, items: Sequence[InputItem | ImageSource]) -> list[Extraction]:
        """A batch of images measured, in order, each with what was computed on the way;
        never raises for a bad file. Each image is a path, bytes, a decoded
        :class:`LoadedImage`, or an :class:`InputItem` naming one of these."""
        if self.closed:
            raise RuntimeError("the feature extractor was closed")
        items = [as_item(item) for item in items]
        out: list[Extraction | None] = [None] * len(items)
        decoded: list[tuple[int, LoadedImage]] = []
        for i, image in enumerate(self._pool.map(self._decoded, [item.source for item in items])):
            if isinstance(image, BaseException):  # one odd file never ends a batch
                out[i] = self._failure(items[i], image)
            else:
                decoded.append((i, image))
        pending = self._submit_nima([image.pixels for _, image in decoded])
        staged = []
        measured_images = self._pool.map(self._measure_pixels, [image for _, image in decoded])
        for k, ((i, image), result) in enumerate(zip(decoded, measured_images, strict=True)):
            if isinstance(result, BaseException):
                out[i] = self._failure(items[i], result)
            else:
                staged.append((k, i, image, *result))
        nima = self._nima_outputs(pending, len(decoded))
        for k, i, image, seg, x, measured in staged:
            if isinstance(nima, BaseException):
                out[i] = self._failure(items[i], nima)
                continue
            x.nima = nima[k].scores if nima[k] is not None else None
            try:
                measured.update(measure(x, self.nima_groups))
            except Exception as exc:
                out[i] = self._failure(items[i], exc)
                continue
            row = {
                "image": items[i].image,
                "status": STATUS_OK,
                "error": "",
                "segmenter": seg.segmenter,
                "segmenter_weights": seg.weights or "",
                "object_class": seg.label or "",
                "object_score": seg.score,
                "nima": self.nima_provenance,
                **{name: measured[name] for group in self.groups for name in group.names},
            }
            # The analysis-scale view only when the features made it (they all do today).
            embeddings = nima[k].embeddings if nima[k] is not None else None
            stats = nima[k].stats if nima[k] is not None and nima[k].stats else None
            out[i] = Extraction(
                row, None, image, seg, x.__dict__.get("rgb_small"), embeddings, stats
            )
        return out  # type: ignore[return-value]

    def _decoded(self, source: ImageSource) -> LoadedImage | BaseException:
        """The decoded image, or the exception that stopped it (returned, not raised)."""
        if isinstance(source, LoadedImage):
            return source
        try:
            return load_image(source, max_pixels=self.config.max_pixels)
        except Exception as exc:
            return exc

    @cached_property
    def _pool(self) -> ThreadPoolExecutor:
        """Threads that segment and measure the photos of a batch side by side (OpenCV and
        numpy's large operations release the GIL), as many as the process's thread budget."""
        from photoqc.models.networks import thread_budget

        pool = ThreadPoolExecutor(thread_budget(), thread_name_prefix="photoqc-measure")
        self._held.append(pool)
        return pool

    def _measure_pixels(
        self, image: LoadedImage
    ) -> tuple[SegmentationResult, FeatureInput, dict] | BaseException:
        """Segment one photo and measure every feature that reads pixels only; the
        exception instead of raising it, so one photo's failure stays its own."""
        try:
            seg = self.segmenter.segment(image.pixels)
            x = FeatureInput(
                image.pixels,
                seg.mask,
                image.jpeg_quantization,
                self.config.analysis_long_side,
                None,
                image.jpeg_subsampling,
            )
            return seg, x, measure(x, self.pixel_groups)
        except Exception as exc:
            return exc

    def _submit_nima(self, images: list) -> Future | None:
        """NIMA started on a batch (its outputs come from :meth:`_nima_outputs`)."""
        if self.nima is None or not images:
            return None
        return self.nima.submit(images)

    def _nima_outputs(self, pending: Future | None, count: int) -> list | NetworkFailure:
        """NIMA's outputs (:class:`photoqc.models.nima.NimaOutputs`) per image (None each
        where NIMA is off), or the failure every photo of the batch is then marked with:
        a verdict made without the networks the model was trained with would be another
        verdict, said as if it were the same."""
        if pending is None:
            return [None] * count
        try:
            outputs = pending.result()
        except Exception as exc:
            logger.error("NIMA failed on a batch of %d images: %s", count, exc)
            return NetworkFailure(
                f"the networks could not run on this photo ({type(exc).__name__}: "
                f"{str(exc)[:200]}); no verdict without them"
            )
        if len(outputs) != count:
            return NetworkFailure("the networks gave no output for this photo")
        return outputs

    def error_row(self, item: InputItem, message: str) -> dict[str, object]:
        """The row of ``item`` when it could not be processed."""
        return error_row(item, message, self.segmenter.name, self.config)

    def _failure(self, item: InputItem, exc: BaseException) -> Extraction:
        error: PhotoqcError
        if isinstance(exc, ImageLoadError):
            error, message = exc, exc.cause
        elif isinstance(exc, PhotoqcError):
            error, message = exc, str(exc)
        elif isinstance(exc, MemoryError):
            message = "out of memory while processing this image"
            error = OutOfMemoryError(message)
        else:
            logger.exception("unexpected failure on %s", item.image)
            message = f"internal error: {type(exc).__name__}: {exc}"
            error = InternalError(message)
        return Extraction(self.error_row(item, message), error)


def _let_go(held: list) -> None:
    """What a dropped extractor held is let go without waiting (collection may run on any
    thread, one of the pool's own included): the pool is told to stop, and the rest is
    released, so its own NIMA batcher is collected and stops its thread, which closes the
    networks."""
    for thing in held:
        if isinstance(thing, ThreadPoolExecutor):
            thing.shutdown(wait=False, cancel_futures=True)
    held.clear()


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
