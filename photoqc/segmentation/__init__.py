"""Object/background segmentation: which pixels belong to the listed item.

Segmenters (``--segmenter``) are listed, with their settings and defaults, in
:mod:`photoqc.segmentation.registry`: ``maskrcnn`` (torchvision Mask R-CNN, COCO weights),
``fastcut`` (a colour graph cut like GrabCut, no weights, ~30 ms), ``grabcut`` (OpenCV's
GrabCut, no weights, ~0.4 s) and ``none`` (no mask: object features missing); ``auto``
takes Mask R-CNN when its weights can be had, else fastcut with one warning.

A :class:`SegmenterConfig` is plain data, so it travels to worker processes; resolve it
once in the main process (:func:`resolve_segmenter`) so that ``auto`` decides, downloads
and warns once, then build one segmenter per process (:func:`build_segmenter`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from photoqc.choices import choose
from photoqc.segmentation.base import NoSegmenter, SegmentationResult, Segmenter
from photoqc.segmentation.grabcut import GrabCutSegmenter
from photoqc.segmentation.registry import AUTO, AUTO_PREFERENCE, CHOICES, SEGMENTERS, entry

__all__ = [
    "CHOICES",
    "SEGMENTERS",
    "GrabCutSegmenter",
    "NoSegmenter",
    "SegmentationResult",
    "Segmenter",
    "SegmenterConfig",
    "build_segmenter",
    "resolve_segmenter",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmenterConfig:
    """How to segment: the choice, its settings and where its weights are (plain values).

    Attributes
    ----------
    kind : str
        ``auto`` or a name of :data:`SEGMENTERS`.
    options : mapping
        Settings asked for (e.g. ``{"variant": "v2"}``); each segmenter reads its own keys
        and takes the registry's default for the rest. Once resolved, exactly the chosen
        segmenter's settings.
    weights_dir : str or None
        Folder searched first for weights (``--weights-dir``; default ``$PHOTOQC_WEIGHTS_DIR``).
    weights_file : str or None
        The resolved weight file (filled in by :func:`resolve_segmenter`).
    allow_download : bool
        Whether missing weights may be downloaded.
    """

    kind: str = AUTO
    options: Mapping[str, object] = field(default_factory=dict)
    weights_dir: str | None = None
    weights_file: str | None = None
    allow_download: bool = True

    def __post_init__(self) -> None:
        choose(dict.fromkeys(CHOICES), self.kind, "segmenter")  # refuses, naming the choices

    @property
    def settings(self) -> dict[str, object]:
        """The settings the chosen segmenter runs with (empty for ``auto``)."""
        return {} if self.kind == AUTO else entry(self.kind).settings(self.options)

    @property
    def resolved(self) -> bool:
        """Whether the choice is made and any weights found."""
        return self.kind != AUTO and (not entry(self.kind).needs_weights or bool(self.weights_file))


def resolve_segmenter(config: SegmenterConfig) -> tuple[SegmenterConfig, str | None]:
    """Turn ``auto`` into a concrete choice, fill in the settings and find any weights.

    Returns
    -------
    config : SegmenterConfig
        Resolved: a concrete ``kind``, its full settings and, where it needs weights,
        ``weights_file``.
    warning : str or None
        Set when ``auto`` fell back to a later choice; the caller shows it to the user
        once (:func:`build_segmenter` logs it when it resolves by itself).

    Raises
    ------
    photoqc.weights.WeightsNotFoundError
        For a segmenter named explicitly whose weights cannot be found or downloaded.
    """
    from photoqc.compat import MissingDependencyError
    from photoqc.weights import WeightsNotFoundError

    if config.resolved:
        return replace(config, options=config.settings), None
    if config.kind != AUTO:
        return _with_weights(config, config.kind), None
    missing: list[str] = []
    for name in AUTO_PREFERENCE:
        try:
            resolved = _with_weights(config, name)
        except WeightsNotFoundError as exc:
            missing.append(f"{name} unavailable: {exc}")
            continue
        except MissingDependencyError as exc:  # a light install: no torch
            missing.append(f"{name} unavailable: {exc.message} ({exc.hint})")
            continue
        warning = None
        if missing:
            warning = f"falling back to {name} segmentation ({SEGMENTERS[name].summary}). " + (
                " ".join(missing)
            )
        return resolved, warning
    raise WeightsNotFoundError(" ".join(missing))


def _with_weights(config: SegmenterConfig, kind: str) -> SegmenterConfig:
    chosen = entry(kind)
    settings = chosen.settings(config.options)
    weights = config.weights_file if kind == config.kind else None
    if chosen.needs_weights and not weights:
        path = chosen.implementation().find_weights(
            settings, config.weights_dir, config.allow_download
        )
        weights = str(path)
    return replace(config, kind=kind, options=settings, weights_file=weights)


def build_segmenter(config: SegmenterConfig) -> Segmenter:
    """Build the segmenter ``config`` describes (resolving it first if needed)."""
    if not config.resolved:
        config, warning = resolve_segmenter(config)
        if warning:
            logger.warning(warning)
    return entry(config.kind).implementation().build(config.settings, config.weights_file)
