"""The segmenters photoqc knows: name -> where it lives, its settings and their defaults.

This is the one place that lists segmenters and spells their default settings; the CLI's
``--segmenter`` choices, the extraction recipe and the model record all read it. Adding a
segmenter means writing its module (a ``build(settings, weights_file)`` function, and
``find_weights(settings, weights_dir, allow_download)`` when it needs weights) and adding
one :class:`SegmenterEntry` here.

Nothing here imports torch: the heavy modules load when a segmenter is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from photoqc.choices import choose

AUTO = "auto"
"""Not a segmenter but a choice: the first of :data:`AUTO_PREFERENCE` that can be had."""


@dataclass(frozen=True)
class SegmenterEntry:
    """A segmenter as the registry knows it.

    Attributes
    ----------
    name : str
        Its ``--segmenter`` value, recorded in every output row and model.
    summary : str
        One line for ``--help``.
    defaults : mapping
        Its settings and their default values (what the model records).
    module : str
        The module with ``build(settings, weights_file) -> Segmenter`` (and
        ``find_weights(settings, weights_dir, allow_download) -> Path`` if it needs weights).
    needs_weights : bool
        Whether it runs a network whose weights must be found first.
    requires : str or None
        An optional dependency its module imports (``torch``: ``photoqc[torch]``).
    """

    name: str
    summary: str
    defaults: Mapping[str, object] = field(default_factory=dict)
    module: str = "photoqc.segmentation.base"
    needs_weights: bool = False
    requires: str | None = None

    def settings(self, options: Mapping[str, object] | None = None) -> dict[str, object]:
        """This segmenter's settings: ``options`` where given (other keys ignored), else
        the defaults."""
        options = options or {}
        return {
            key: type(default)(options[key]) if options.get(key) is not None else default
            for key, default in self.defaults.items()
        }

    def implementation(self):
        """The module that builds it (imported now).

        Raises
        ------
        photoqc.compat.MissingDependencyError
            When what it requires is not installed (naming the extra to install).
        """
        if self.requires:
            from photoqc.compat import require

            require(self.requires, f"the {self.name} segmenter")
        return importlib.import_module(self.module)


MASKRCNN_VARIANTS = ("v1", "v2")
"""Mask R-CNN versions: ``v1`` (faster on CPU) and ``v2`` (more accurate)."""

MASKRCNN = SegmenterEntry(
    "maskrcnn",
    "torchvision Mask R-CNN, COCO weights",
    MappingProxyType({"variant": "v1", "analysis_size": 512, "min_score": 0.5}),
    "photoqc.segmentation.maskrcnn",
    needs_weights=True,
    requires="torchvision",
)
GRABCUT = SegmenterEntry(
    "grabcut",
    "OpenCV GrabCut from a centred rectangle, no weights",
    MappingProxyType({"long_side": 240, "margin": 0.08, "iterations": 4}),
    "photoqc.segmentation.grabcut",
)
FASTCUT = SegmenterEntry(
    "fastcut",
    "colour graph cut from a centred rectangle like GrabCut, ten times faster, no weights",
    MappingProxyType({"long_side": 120, "margin": 0.08, "iterations": 1}),
    "photoqc.segmentation.fastcut",
)
NONE = SegmenterEntry("none", "no segmentation: object features left empty")

SEGMENTERS: Mapping[str, SegmenterEntry] = MappingProxyType(
    {entry.name: entry for entry in (MASKRCNN, FASTCUT, GRABCUT, NONE)}
)
"""Every segmenter by name, in the order ``--help`` lists them."""

AUTO_PREFERENCE = ("maskrcnn", "fastcut")
"""What ``auto`` tries, in order: the first whose weights can be had."""

CHOICES = (AUTO, *SEGMENTERS)
"""Every ``--segmenter`` value."""


def entry(name: str) -> SegmenterEntry:
    """The registry entry called ``name``; ValueError naming the choices otherwise."""
    return choose(SEGMENTERS, name, "segmenter")


def choices_help() -> str:
    """The ``--segmenter`` choices, one clause each, for help texts."""
    listed = "; ".join(f"`{e.name}` ({e.summary})" for e in SEGMENTERS.values())
    first = " else ".join(f"`{n}`" for n in AUTO_PREFERENCE)
    return f"{listed}; `{AUTO}`: {first}, whichever can be had first"
