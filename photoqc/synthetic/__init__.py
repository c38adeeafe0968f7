"""Synthetic copies of photos: realistic defects and KADID-10k's distortion types.

- :mod:`~photoqc.synthetic.defects`: the defects listing photos suffer (under- and
  over-exposure, blur, noise, heavy JPEG...), each at a severity 0–1;
- :mod:`~photoqc.synthetic.kadid`: KADID-10k's 25 distortion types, each at a level 1–5;
- :mod:`~photoqc.synthetic.kinds`: the one registry of copy kinds training makes from them
  (:data:`COPY_KINDS`).

How much of its original a copy kept is measured apart from the generators, in
:mod:`photoqc.metrics`.
"""

from photoqc.synthetic.defects import DEFECT_FAMILIES, DEGRADATIONS
from photoqc.synthetic.kadid import DISTORTIONS, LEVELS, REASON_FAMILIES, distort
from photoqc.synthetic.kinds import (
    COPY_KINDS,
    DEFECT_CLASSES,
    VOCABULARIES,
    CopyKind,
    Vocabulary,
    copy_kind,
    copy_kinds_help,
    defect_class,
)

__all__ = [
    "COPY_KINDS",
    "DEFECT_CLASSES",
    "DEFECT_FAMILIES",
    "DEGRADATIONS",
    "DISTORTIONS",
    "LEVELS",
    "REASON_FAMILIES",
    "VOCABULARIES",
    "CopyKind",
    "Vocabulary",
    "copy_kind",
    "copy_kinds_help",
    "defect_class",
    "distort",
]
