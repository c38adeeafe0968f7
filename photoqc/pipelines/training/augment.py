"""Degraded copies of good training photos, so the classifier learns every defect type.

Real labelled photos rarely show every defect at every strength: a set of phone photos may
hold no heavily noisy, blocky or colour-cast one, and a tree model cannot call bad what it
has never seen. So each good training photo lends a few copies of itself, each with one
defect, labelled with a *soft* target. The kinds of copies (``AugmentConfig.kind``) are
those of :data:`photoqc.synthetic.COPY_KINDS`:

- ``defects``: one of :data:`photoqc.synthetic.DEFECT_FAMILIES` (noise, JPEG blocking,
  blur, under- and over-exposure, a colour cast) at a graded severity; target
  ``target x (1 - severity)``;
- ``kadid``: one of KADID-10k's 25 distortion types (:mod:`photoqc.synthetic.kadid`) at a
  level 1-5; target ``target x fidelity ** gamma``, where *fidelity* is the copy's
  full-reference similarity to its own original (the worse of mean SSIM over Lab and
  GMSD, 1 for untouched; :func:`photoqc.metrics.fidelity`): labelled by how much the photo
  lost, not by a level number that means something else for every type. The mapping is
  monotone (less fidelity, lower target; an untouched copy keeps its source's target) and
  ``gamma`` sets how fast people give up on a photo as it loses fidelity (3: a copy at
  fidelity 0.8, a clearly visible blur, keeps half its target);
- ``mixed``: a photo's copies alternate between the two (even ones defects, odd KADID),
  so the 6 defects keep their graded copies while the 25 types add theirs.

A copy keeps its source's format (PNG stays PNG; a JPEG is saved at its own quality), so
nothing but the defect tells it apart; copies count less than real photos (``weight``);
and in cross-validation a copy trains only where its source trains, never beside it in a
test fold.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from photoqc.assess.extractor import STATUS_OK
from photoqc.features.compression import jpeg_quality
from photoqc.images import ImageLoadError, load_image
from photoqc.metrics import fidelity
from photoqc.pipelines.training.labels import Labels
from photoqc.synthetic import DEFECT_FAMILIES, VOCABULARIES, copy_kind, defect_class
from photoqc.synthetic.defects import jpeg_quality_for
from photoqc.synthetic.kadid import VERSION as KADID_VERSION

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AugmentConfig:
    """How many degraded copies of which photos, how strong, and how much they count.

    Attributes
    ----------
    copies : int
        Copies per good photo (0: none).
    min_target : float
        Only photos whose target is at least this (good photos) lend copies.
    severities : tuple of float
        Severities the realistic defects are drawn at, 0–1.
    defects : tuple of str
        Realistic defects drawn from (names of :data:`photoqc.synthetic.DEGRADATIONS`).
    weight : float
        Training weight of a copy (a real photo weighs 1).
    seed : int
        Seed of the draws (photo, defect, strength, noise, hue).
    kind : str
        A copy kind of :data:`photoqc.synthetic.COPY_KINDS`.
    gamma : float
        Exponent of the fidelity in a KADID copy's target.
    """

    copies: int = 0
    min_target: float = 0.6
    severities: tuple[float, ...] = (0.4, 0.7, 1.0)
    defects: tuple[str, ...] = tuple(DEFECT_FAMILIES)
    weight: float = 1.0
    seed: int = 0
    kind: str = "defects"
    gamma: float = 3.0

    def __post_init__(self) -> None:
        copy_kind(self.kind)  # refuses an unknown kind, naming the choices

    def record(self) -> dict[str, object]:
        return {
            "copies": self.copies,
            "min_target": self.min_target,
            "severities": list(self.severities),
            "defects": list(self.defects),
            "weight": self.weight,
            "seed": self.seed,
            "kind": self.kind,
            "gamma": self.gamma,
        }


@dataclass(frozen=True)
class Copy:
    """One planned copy: which photo, which vocabulary and type at which strength, and
    its draw (the noise seed or the cast's hue).

    Attributes
    ----------
    source : int
        Index of the photo in the labels.
    vocabulary : str
        ``defects`` (strength a severity 0–1) or ``kadid`` (strength a level 1–5).
    type : str
        The defect or KADID type.
    strength : float
        Its severity or level.
    variant : int
        The draw.
    gamma : float
        Exponent of the fidelity in the target of a copy labelled by fidelity.
    """

    source: int
    vocabulary: str
    type: str
    strength: float
    variant: int
    gamma: float = 3.0

    @property
    def by_fidelity(self) -> bool:
        """Whether the target follows the copy's measured fidelity (a KADID copy)."""
        return VOCABULARIES[self.vocabulary].by_fidelity

    def target(self, source_target: float, fidelity: float | None = None) -> float:
        """The copy's soft target: its source's, scaled down by the severity, or (a copy
        labelled by fidelity) by its ``fidelity`` to the original raised to ``gamma``."""
        if self.by_fidelity and fidelity is not None:
            return float(source_target) * float(np.clip(fidelity, 0.0, 1.0)) ** self.gamma
        return float(source_target) * (1.0 - self._severity)

    @property
    def _severity(self) -> float:
        """The strength as a share of the strongest (a level 1–5 as level / 5)."""
        return self.strength / 5 if self.vocabulary == "kadid" else self.strength

    def cache_key(self, source_path: str | os.PathLike[str]) -> str:
        """The name its file is kept under: the same copy is made once. (Unchanged from
        when copies were described by a defect and a severity, a KADID level as level / 5,
        so copies made then are still found; a KADID copy is made again when the
        distortions or the fidelity measure change.)"""
        suffix = f"|kadid|v{KADID_VERSION}" if self.vocabulary == "kadid" else ""
        text = f"{Path(source_path).resolve()}|{self.type}|{float(self._severity)}|{self.variant}"
        return hashlib.sha256(f"{text}{suffix}".encode()).hexdigest()[:20]

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """The copy's pixels: its type at its strength, with its own draw."""
        return VOCABULARIES[self.vocabulary].make(pixels, self.type, self.strength, self.variant)


@dataclass
class Augmented:
    """Degraded copies as training rows: features, targets, weights and their sources
    (indices into the labels)."""

    X: pd.DataFrame
    target: np.ndarray
    weight: np.ndarray
    source: np.ndarray
    types: list[str] = field(default_factory=list)
    embeddings: np.ndarray | None = None  # (n, d) NIMA embeddings, for the read-out
    classes: list[str] = field(default_factory=list)  # each copy's defect class
    losses: np.ndarray | None = None  # each copy's 1 - fidelity (NaN: not comparable)

    def __len__(self) -> int:
        return len(self.target)

    def of(self, sources: np.ndarray) -> Augmented:
        """The copies whose source is among ``sources``."""
        keep = np.isin(self.source, sources)
        return Augmented(
            self.X[keep].reset_index(drop=True),
            self.target[keep],
            self.weight[keep],
            self.source[keep],
            [d for d, k in zip(self.types, keep, strict=True) if k],
            self.embeddings[keep] if self.embeddings is not None else None,
            [c for c, k in zip(self.classes, keep, strict=True) if k],
            self.losses[keep] if self.losses is not None else None,
        )


def plan(labels: Labels, config: AugmentConfig) -> list[Copy]:
    """Which copies to make: ``config.copies`` per photo with a target of at least
    ``config.min_target``, each with a type and strength drawn at random (seeded)."""
    rng = np.random.default_rng(config.seed)
    kind = copy_kind(config.kind)
    copies = []
    for source in np.flatnonzero(labels.target >= config.min_target):
        for k in range(config.copies):
            vocabulary = kind.vocabulary(k)
            name = str(rng.choice(vocabulary.types(config.defects)))
            strength = rng.choice(vocabulary.strengths(config.severities)).item()
            copies.append(
                Copy(
                    int(source),
                    vocabulary.name,
                    name,
                    strength,
                    int(rng.integers(0, 2**31)),
                    config.gamma,
                )
            )
    return copies


def write_copy(
    copy: Copy, source_path: str | os.PathLike[str], folder: Path
) -> tuple[Path, float] | None:
    """Make one copy as a file in ``folder`` (kept: the same copy is made once), in its
    source's format, with its fidelity to the original (as saved, as measured), kept
    beside it; None when the source cannot be read. (Copies of realistic defects made
    before their fidelity was kept get it measured once, from the file.)"""
    digest = copy.cache_key(source_path)
    try:
        original = load_image(source_path)
    except ImageLoadError as exc:
        logger.warning("no copies of %s: %s", source_path, exc.cause)
        return None
    encode_jpeg = copy.type == "jpeg" and copy.vocabulary == "defects"
    as_jpeg = encode_jpeg or original.format == "JPEG"
    path = folder / f"{digest}.{'jpg' if as_jpeg else 'png'}"
    kept = folder / f"{digest}.fidelity"
    if path.is_file() and kept.is_file():
        return path, float(kept.read_text())
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        pixels = copy.apply(original.pixels)
        temporary = path.with_suffix(".tmp")
        if encode_jpeg:
            quality = jpeg_quality_for(copy.strength)
            Image.fromarray(pixels).save(temporary, "JPEG", quality=quality)
        elif as_jpeg:
            quality = jpeg_quality(original.jpeg_quantization)
            quality = 95 if np.isnan(quality) else int(quality)
            Image.fromarray(pixels).save(temporary, "JPEG", quality=quality)
        else:
            Image.fromarray(pixels).save(temporary, "PNG")
        os.replace(temporary, path)
    saved = load_image(path).pixels
    if saved.shape != original.pixels.shape:  # a crop (cut_off): nothing to compare pixel by pixel
        similarity = float("nan")
    else:
        similarity = fidelity(original.pixels, saved)
    kept.write_text(f"{similarity!r}\n")
    return path, similarity


def augment(
    labels: Labels,
    config: AugmentConfig,
    folder: str | os.PathLike[str],
    features: Callable[[Labels], pd.DataFrame],
    on_copy: Callable[[], None] | None = None,
) -> Augmented:
    """Make the planned copies in ``folder`` and measure them with ``features`` (which
    takes labels and returns feature rows with a ``status`` column, in order);
    ``on_copy()`` after each copy is made."""
    folder = Path(folder)
    copies = plan(labels, config)
    made: list[tuple[Copy, Path, float]] = []
    for copy in copies:
        written = write_copy(copy, labels.paths[copy.source], folder)
        if written is not None:
            made.append((copy, *written))
        if on_copy:
            on_copy()
    sources = np.array([c.source for c, _, _ in made], dtype=int)
    target = np.array(
        [c.target(labels.target[c.source], f if c.by_fidelity else None) for c, _, f in made],
        dtype=float,
    )
    copy_labels = Labels([str(p) for _, p, _ in made], [p for _, p, _ in made], target, "votes")
    rows = features(copy_labels)
    ok = (rows["status"] == STATUS_OK).to_numpy()
    kept = [m for m, k in zip(made, ok, strict=True) if k]
    return Augmented(
        rows[ok].reset_index(drop=True),
        target[ok],
        np.full(int(ok.sum()), config.weight),
        sources[ok],
        [c.type for c, _, _ in kept],
        classes=[defect_class(c.vocabulary, c.type) for c, _, _ in kept],
        losses=np.array([1.0 - f for _, _, f in kept], dtype=float),
    )
