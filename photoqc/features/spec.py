"""What a feature is: a named number, its family and direction, and how to say it to a
moderator (:class:`FeatureSpec`); features computed together by one pure function
(:class:`FeatureGroup`).

A *feature* is a named number with a one-line description that states its unit and range.
Features that share work are computed together by a *feature group*: a pure function from
a :class:`~photoqc.features.inputs.FeatureInput` (the pixels, the object mask, the JPEG
tables) to a dict of floats. No group does I/O, and none changes its input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from photoqc.features.wording import plain_words

if TYPE_CHECKING:
    from photoqc.features.inputs import FeatureInput

NAN = float("nan")


class Direction(StrEnum):
    """Which way a feature's value is better, as physics says (not as data fit).

    Monotone constraints of the classifier and the side a reason may speak of follow it.
    """

    HIGHER_BETTER = "higher is better"
    HIGHER_WORSE = "higher is worse"
    NEITHER = "neither"

    @property
    def monotone(self) -> int:
        """LightGBM's ``monotone_constraints`` entry: 1, -1 or 0."""
        return {Direction.HIGHER_BETTER: 1, Direction.HIGHER_WORSE: -1}.get(self, 0)


@dataclass(frozen=True)
class FeatureSpec:
    """A feature: its stable name, what it measures, and how to say it to a moderator.

    Attributes
    ----------
    name : str
        Stable column name.
    description : str
        One line with unit and range.
    family : str
        The defect family its reasons belong to ("exposure", "sharpness", "noise", ...):
        one defect moves many features of a family, and is said once.
    direction : Direction
        Which way is better; :attr:`Direction.NEITHER` when good values lie in a range.
    low, high : str
        The reason phrase when the value is below / above what good photos have, with
        ``{v}`` (the value) and ``{t}`` (good photos' typical value); empty when that side
        is no defect (a sharp photo is never "too sharp").
    fmt : str
        Format spec of values in phrases (``".2f"``, ``".1%"``...).
    near : str
        For signed differences (object minus background): the phrase when the value has
        the sign good photos have but less of it ("object hardly stands out").
    whole_frame : (str, str) or None
        ``(witness, say)``: when this local feature falls short and so does ``witness``
        (the best part of the whole frame), the reason speaks through ``say`` instead
        ("blurry all over" rather than "blurry top-left").
    short : str
        Its label in charts; by default the description up to its first comma.
    last_resort : bool
        Its family speaks only after every other family: an overall judgement (NIMA) that
        names no defect a moderator can fix.
    bounded : bool
        Good photos lie within a range and past it on either side is a defect (too dark
        or too bright, dull or oversaturated): a defect penalty may then act on both sides
        of the range good training photos span (only for :attr:`Direction.NEITHER`
        features with both phrases).
    show_typical : bool
        Whether reasons add good photos' typical value (not for distances from a good
        range, which are 0 for good photos).
    words : tuple of (float, str)
        Values said in words instead of digits: each ``(upper bound, word)`` in rising
        order, the first bound the value is under giving its word ("strong").
    learned : bool
        Learned from the networks rather than measured: within its family it speaks only
        after the measured features that see the defect.
    """

    name: str
    description: str
    family: str = "other"
    direction: Direction = Direction.NEITHER
    low: str = ""
    high: str = ""
    fmt: str = ".2f"
    near: str = ""
    whole_frame: tuple[str, str] | None = None
    short: str = ""
    last_resort: bool = False
    show_typical: bool = True
    bounded: bool = False
    words: tuple[tuple[float, str], ...] = ()
    learned: bool = False

    def __post_init__(self) -> None:
        if self.bounded and not (self.direction is Direction.NEITHER and self.low and self.high):
            raise ValueError(f"{self.name}: a bounded feature has no direction and two phrases")
        if self.direction is Direction.HIGHER_BETTER and self.high:
            raise ValueError(f"{self.name}: higher is better, so a high value is no defect")
        if self.direction is Direction.HIGHER_WORSE and self.low:
            raise ValueError(f"{self.name}: higher is worse, so a low value is no defect")

    @property
    def label(self) -> str:
        """What the feature measures, in a few plain words (for charts and tables)."""
        return plain_words(self.short or self.description.split(", ")[0])

    def format(self, value: float) -> str:
        """``value`` as reasons print it (in :attr:`words` where it has them)."""
        if self.words and value == value:  # not NaN
            return next((w for bound, w in self.words if value < bound), self.words[-1][1])
        return format(value, self.fmt)

    def phrase(self, side: str) -> str:
        """The reason phrase for ``side`` ("low" or "high"); empty when no defect."""
        return self.low if side == "low" else self.high


@dataclass(frozen=True)
class FeatureGroup:
    """Features computed together by one pure function.

    ``compute`` must return exactly the names in ``specs`` (NaN where undefined).
    """

    name: str
    specs: tuple[FeatureSpec, ...]
    compute: Callable[[FeatureInput], Mapping[str, float]]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.specs)


def nan_features(names: tuple[str, ...] | list[str]) -> dict[str, float]:
    """A row of NaN for ``names`` (the value of a feature that is undefined here)."""
    return dict.fromkeys(names, NAN)
