"""Object/background segmentation: which pixels belong to the listed item.

Segmenters (``--segmenter``):

- ``maskrcnn``: torchvision Mask R-CNN with COCO weights (:mod:`.maskrcnn`);
- ``grabcut``: OpenCV GrabCut from a centred rectangle, no weights (:mod:`.grabcut`);
- ``auto`` (default): ``maskrcnn`` when its weights can be had, else ``grabcut`` with one
  warning;
- ``none``: no mask; object features are missing.

A :class:`SegmenterConfig` is plain data, so it travels to worker processes; resolve it
once in the main process (:func:`resolve_segmenter`) so that ``auto`` decides, downloads
and warns once, then build one segmenter per process (:func:`build_segmenter`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from photoqc.segmentation.base import NoSegmenter, SegmentationResult, Segmenter
from photoqc.segmentation.grabcut import GrabCutSegmenter

__all__ = [
    "SEGMENTER_CHOICES",
    "GrabCutSegmenter",
    "NoSegmenter",
    "SegmentationResult",
    "Segmenter",
    "SegmenterConfig",
    "build_segmenter",
    "resolve_segmenter",
]

logger = logging.getLogger(__name__)

SEGMENTER_CHOICES = ("auto", "maskrcnn", "grabcut", "none")


@dataclass(frozen=True)
class SegmenterConfig:
    """How to segment: the choice and its settings (all plain values).

    Attributes
    ----------
    kind : {"auto", "maskrcnn", "grabcut", "none"}
    variant : {"v1", "v2"}
        Mask R-CNN version.
    weights_dir : str or None
        Folder searched first for weights (``--weights-dir``; default ``$PHOTOQC_WEIGHTS_DIR``).
    weights_file : str or None
        The resolved Mask R-CNN weight file (filled in by :func:`resolve_segmenter`).
    analysis_size : int
        Mask R-CNN's analysis short side, pixels.
    min_score : float
        Mask R-CNN's least detection confidence, 0–1.
    allow_download : bool
        Whether missing weights may be downloaded.
    """

    kind: str = "auto"
    variant: str = "v1"
    weights_dir: str | None = None
    weights_file: str | None = None
    analysis_size: int = 512
    min_score: float = 0.5
    allow_download: bool = True

    def __post_init__(self) -> None:
        if self.kind not in SEGMENTER_CHOICES:
            raise ValueError(
                f"unknown segmenter {self.kind!r}; choose from {', '.join(SEGMENTER_CHOICES)}"
            )


def resolve_segmenter(config: SegmenterConfig) -> tuple[SegmenterConfig, str | None]:
    """Turn ``auto`` into a concrete choice and find Mask R-CNN's weights.

    Returns
    -------
    config : SegmenterConfig
        With ``kind`` in {"maskrcnn", "grabcut", "none"} and, for Mask R-CNN,
        ``weights_file`` set.
    warning : str or None
        Set when ``auto`` fell back to GrabCut; the caller shows it to the user once
        (:func:`build_segmenter` logs it when it resolves by itself).

    Raises
    ------
    photoqc.weights.WeightsNotFoundError
        For ``maskrcnn`` when its weights cannot be found or downloaded.
    """
    if config.kind in {"grabcut", "none"}:
        return config, None
    if config.kind == "maskrcnn" and config.weights_file:
        return config, None
    from photoqc.segmentation.maskrcnn import resolve_maskrcnn_weights
    from photoqc.weights import WeightsNotFoundError

    try:
        path = resolve_maskrcnn_weights(config.variant, config.weights_dir, config.allow_download)
    except WeightsNotFoundError as exc:
        if config.kind == "maskrcnn":
            raise
        warning = f"Mask R-CNN unavailable, falling back to GrabCut segmentation. {exc}"
        return replace(config, kind="grabcut"), warning
    return replace(config, kind="maskrcnn", weights_file=str(path)), None


def build_segmenter(config: SegmenterConfig) -> Segmenter:
    """Build the segmenter ``config`` describes (resolving it first if needed)."""
    if config.kind == "auto" or (config.kind == "maskrcnn" and not config.weights_file):
        config, warning = resolve_segmenter(config)
        if warning:
            logger.warning(warning)
    if config.kind == "none":
        return NoSegmenter()
    if config.kind == "grabcut":
        return GrabCutSegmenter()
    from photoqc.segmentation.maskrcnn import MaskRCNNSegmenter

    return MaskRCNNSegmenter(
        config.variant,
        weights_file=config.weights_file,
        analysis_size=config.analysis_size,
        min_score=config.min_score,
    )
