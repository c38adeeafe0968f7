"""The one registry of synthetic copy kinds: what ``photoqc train --copy-kind`` offers.

Two vocabularies make copies (:class:`Vocabulary`): the realistic *defects* of
:mod:`photoqc.synthetic.defects`, each at a severity 0–1, labelled by that severity; and
the 25 *KADID-10k* types of :mod:`photoqc.synthetic.kadid`, each at a level 1–5, labelled
by the copy's measured fidelity to its original (:func:`photoqc.metrics.fidelity`). A
*copy kind* (:class:`CopyKind`) names the vocabularies a photo's copies take in turn:
``defects``, ``kadid``, or ``mixed`` (both, alternating). The CLI's choices and help, the
training configuration's check and the augmentation code all read :data:`COPY_KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from photoqc.choices import choose
from photoqc.synthetic import defects, kadid


@dataclass(frozen=True)
class Vocabulary:
    """One way of making a degraded copy.

    Attributes
    ----------
    name : str
        ``defects`` or ``kadid``.
    strength : str
        What its strengths are (``severity`` 0–1, or ``level`` 1–5).
    by_fidelity : bool
        Whether a copy's target follows its measured fidelity (else its strength).
    make : callable
        ``make(pixels, type, strength, draw) -> pixels``.
    """

    name: str
    strength: str
    by_fidelity: bool
    make: Callable[[np.ndarray, str, float, int], np.ndarray]

    def types(self, defects_asked: tuple[str, ...]) -> tuple[str, ...]:
        """The types a copy draws from (the defects asked for, or KADID's 25)."""
        return defects_asked if self.name == "defects" else tuple(kadid.DISTORTIONS)

    def strengths(self, severities: tuple[float, ...]) -> tuple[float, ...]:
        """The strengths a copy draws from (the severities asked for, or KADID's levels)."""
        return severities if self.name == "defects" else kadid.LEVELS


def _make_defect(pixels: np.ndarray, name: str, severity: float, draw: int) -> np.ndarray:
    """A realistic defect at ``severity``, with its own noise draw or cast hue."""
    degrade = defects.DEGRADATIONS[name]
    if name in ("gaussian_noise", "sensor_noise"):
        return degrade(pixels, severity, seed=draw)
    if name == "colour_cast":
        hues = sorted(defects.CAST_HUES)
        return degrade(pixels, severity, hue=hues[draw % len(hues)])
    return degrade(pixels, severity)


def _make_kadid(pixels: np.ndarray, name: str, level: float, draw: int) -> np.ndarray:
    return kadid.distort(pixels, name, int(level), seed=draw % (2**31))


VOCABULARIES: Mapping[str, Vocabulary] = MappingProxyType(
    {
        "defects": Vocabulary("defects", "severity", False, _make_defect),
        "kadid": Vocabulary("kadid", "level", True, _make_kadid),
    }
)


@dataclass(frozen=True)
class CopyKind:
    """A ``--copy-kind``: the vocabularies a photo's copies take in turn, and its help."""

    name: str
    help: str
    turns: tuple[str, ...]

    def vocabulary(self, k: int) -> Vocabulary:
        """The vocabulary of a photo's ``k``-th copy."""
        return VOCABULARIES[self.turns[k % len(self.turns)]]


COPY_KINDS: Mapping[str, CopyKind] = MappingProxyType(
    {
        kind.name: kind
        for kind in (
            CopyKind(
                "defects",
                f"{len(defects.DEFECT_FAMILIES)} realistic defects (noise, JPEG, blur, under- "
                "and over-exposure, colour cast) at severities 0-1, target scaled by 1 - severity",
                ("defects",),
            ),
            CopyKind(
                "kadid",
                f"KADID-10k's {len(kadid.DISTORTIONS)} distortion types at levels 1-5, target "
                "scaled by the copy's fidelity to its original cubed",
                ("kadid",),
            ),
            CopyKind("mixed", "a photo's copies alternate between the two", ("defects", "kadid")),
        )
    }
)
"""Every copy kind by name, in the order ``--help`` lists them."""


DEFECT_CLASSES = ("blur", "noise", "compression", "colour", "exposure", "spatial")
"""What a learned defect head tells apart: KADID-10k's families, its brightness types and
contrast change as exposure, over-sharpening with the spatial artefacts."""

_KADID_CLASSES = {
    "blur": "blur",
    "colour": "colour",
    "compression": "compression",
    "noise": "noise",
    "brightness": "exposure",
    "spatial": "spatial",
}
_DEFECT_CLASSES = {
    "gaussian_noise": "noise",
    "sensor_noise": "noise",
    "jpeg": "compression",
    "heavy_jpeg": "compression",
    "gaussian_blur": "blur",
    "defocus_blur": "blur",
    "motion_blur": "blur",
    "underexposed": "exposure",
    "overexposed": "exposure",
    "blown_highlights": "exposure",
    "low_contrast": "exposure",
    "dark_corner": "exposure",
    "colour_cast": "colour",
    "cut_off": "spatial",
}


def defect_class(vocabulary: str, name: str) -> str:
    """The :data:`DEFECT_CLASSES` entry a copy of ``name`` (a type of ``vocabulary``)
    shows."""
    if vocabulary == "kadid":
        if name == "contrast_change":
            return "exposure"
        if name == "high_sharpen":
            return "spatial"
        return _KADID_CLASSES[kadid.DISTORTIONS[name][0]]
    return _DEFECT_CLASSES[name]


def copy_kind(name: str) -> CopyKind:
    """The copy kind called ``name``; ValueError naming the choices otherwise."""
    return choose(COPY_KINDS, name, "copy kind")


def copy_kinds_help() -> str:
    """Each copy kind in one clause, for ``--help``."""
    return "; ".join(f"`{k.name}`: {k.help}" for k in COPY_KINDS.values())
