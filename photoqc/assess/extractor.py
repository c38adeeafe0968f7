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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from photoqc.assess.items import ImageSource, InputItem, as_item
from photoqc.assess.recipe import ExtractConfig
from photoqc.errors import PhotoqcError
from photoqc.features import FeatureInput, measure
from photoqc.images import ImageLoadError, LoadedImage, load_image
from photoqc.segmentation import SegmentationResult, build_segmenter

logger = logging.getLogger(__name__)

STATUS_OK = "ok"
STATUS_ERROR = "error"


class InternalError(PhotoqcError):
    """Something failed that should not have: a bug, said as such (HTTP 500)."""

    http_status = 500
    code = "internal"


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
    """

    row: dict[str, object]
    error: PhotoqcError | None = None
    image: LoadedImage | None = None
    segmentation: SegmentationResult | None = None
    analysis_rgb: np.ndarray | None = None
    embeddings: dict[str, np.ndarray] | None = None

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


class FeatureExtractor:
    """Turns inputs into rows; holds the segmenter and NIMA so each is built once.

    With ``keep_embeddings``, each ok row also carries its NIMA embeddings under
    :data:`EMBEDDINGS_KEY` (training's read-out needs them; tables leave them out).
    """

    def __init__(self, config: ExtractConfig, keep_embeddings: bool = False):
        self.config = config
        self.keep_embeddings = keep_embeddings
        self.groups = config.groups()
        self.segmenter = build_segmenter(config.segmenter)
        self.nima = None
        if config.nima_weights:
            from photoqc.models.nima_predict import NimaPredictor

            self.nima = NimaPredictor(config.nima_weights)
        self.nima_provenance = self.nima.provenance() if self.nima else "off"

    def row(self, item: InputItem | ImageSource) -> dict[str, object]:
        """The feature row of one image; never raises for a bad file."""
        return self.extract([item])[0].row

    def rows(self, items: Sequence[InputItem | ImageSource]) -> list[dict[str, object]]:
        """Feature rows of a batch of images, in order; never raises for a bad file."""
        extracted = self.extract(items)
        if not self.keep_embeddings:
            return [e.row for e in extracted]
        return [
            {**e.row, EMBEDDINGS_KEY: {k: v.tolist() for k, v in e.embeddings.items()}}
            if e.embeddings
            else e.row
            for e in extracted
        ]

    def extract(self, items: Sequence[InputItem | ImageSource]) -> list[Extraction]:
        """A batch of images measured, in order, each with what was computed on the way;
        never raises for a bad file. Each image is a path, bytes, a decoded
        :class:`LoadedImage`, or an :class:`InputItem` naming one of these."""
        items = [as_item(item) for item in items]
        out: list[Extraction | None] = [None] * len(items)
        staged: list[tuple[int, LoadedImage, SegmentationResult]] = []
        for i, item in enumerate(items):
            try:
                image = self._decoded(item.source)
                staged.append((i, image, self.segmenter.segment(image.pixels)))
            except Exception as exc:  # one odd file must never end a batch of thousands
                out[i] = self._failure(item, exc)
        nima_scores, embeddings = self._nima_outputs([image.pixels for _, image, _ in staged])
        for (i, image, seg), nima, embedded in zip(staged, nima_scores, embeddings, strict=True):
            x = FeatureInput(
                image.pixels,
                seg.mask,
                image.jpeg_quantization,
                self.config.analysis_long_side,
                nima,
                image.jpeg_subsampling,
            )
            try:
                features = measure(x, self.groups)
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
                **features,
            }
            # The analysis-scale view only when the features made it (they all do today).
            out[i] = Extraction(row, None, image, seg, x.__dict__.get("rgb_small"), embedded)
        return out  # type: ignore[return-value]

    def _decoded(self, source: ImageSource) -> LoadedImage:
        if isinstance(source, LoadedImage):
            return source
        return load_image(source, max_pixels=self.config.max_pixels)

    def _nima_outputs(self, images: list) -> tuple[list, list]:
        """NIMA's (mean, std) and embeddings per image, None each where NIMA is off or
        failed on the batch."""
        if self.nima is None or not images:
            return [None] * len(images), [None] * len(images)
        try:
            return self.nima.outputs(images)
        except Exception:  # a failed batch loses its NIMA values, not its rows
            logger.exception("NIMA failed on a batch of %d images", len(images))
            return [None] * len(images), [None] * len(images)

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
