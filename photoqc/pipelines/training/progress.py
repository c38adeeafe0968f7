"""What training is doing, stage by stage: for a progress display, log lines and the summary.

Training passes through stages (features, copies, the heads' basis, cross-validation, the
final model, writing the folder), some of which take minutes on tens of thousands of
labels. :class:`Stages` times each one and tells a listener where it is: at the start of
a stage, after each step of it (a fold, a chunk of photos) and, through :meth:`tick`,
between the pieces of work inside a step, so that a listener that writes a line every so
often (standard error not a terminal) never goes quiet for long. Ticks are also where
Ctrl-C and SIGTERM can stop a long numerical step: none of them runs more than a few
seconds without one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

__all__ = ["LogLines", "StageEvent", "Stages"]


@dataclass(frozen=True)
class StageEvent:
    """Where training is: ``stage`` (words), ``done`` of ``total`` steps (None: unknown),
    each step a ``unit`` ("fold"), seconds since the stage began, and whether it just
    ``ended``."""

    stage: str
    done: int
    total: int | None
    seconds: float
    ended: bool = False
    unit: str = ""


Listener = Callable[[StageEvent], None]


@dataclass
class _Running:
    """A stage under way."""

    name: str
    total: int | None
    unit: str
    started: float = field(default_factory=time.perf_counter)
    done: int = 0


@dataclass
class Stages:
    """Times training's stages and reports them to ``listener``. A stage may run inside
    another (the copies' features inside making the copies): the inner one is reported
    until it ends.

    Attributes
    ----------
    seconds : dict of str to float
        Each finished stage's wall time, in the order they ran (a stage run twice adds up).
    """

    listener: Listener | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    _running: list[_Running] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str, total: int | None = None, unit: str = "") -> Iterator[Stages]:
        """Run a stage of ``total`` steps (None: one piece of work; ``unit``: what a step
        is called, "fold") inside the block."""
        self._running.append(_Running(name, total, unit))
        self._tell()
        try:
            yield self
        finally:
            elapsed = time.perf_counter() - self._running[-1].started
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
            self._tell(ended=True)
            self._running.pop()
            logger.info("%s: %.1f s", name, elapsed)

    def advance(self, steps: int = 1) -> None:
        """``steps`` more of the current stage are done."""
        if self._running:
            self._running[-1].done += steps
        self._tell()

    @property
    def done(self) -> int:
        """Steps done in the current stage."""
        return self._running[-1].done if self._running else 0

    def set_total(self, total: int | None) -> None:
        if self._running:
            self._running[-1].total = total
        self._tell()

    def tick(self) -> None:
        """Work goes on inside a step (no count changes)."""
        self._tell()

    def _tell(self, ended: bool = False) -> None:
        if self.listener is None or not self._running:
            return
        now = self._running[-1]
        self.listener(
            StageEvent(
                now.name,
                now.done,
                now.total,
                time.perf_counter() - now.started,
                ended,
                now.unit,
            )
        )


FEW_STEPS = 100
"""A stage of at most this many steps (folds) gets a line at every step."""


@dataclass
class LogLines:
    """A listener that writes a line with ``write`` when a stage starts and ends, at each
    step of a stage with few steps (a fold), and otherwise at most every ``every`` seconds
    ("cross-validation (with trees), fold 2 of 5, 41 s"): what ``photoqc train``
    prints when standard error is not a terminal."""

    write: Callable[[str], None]
    every: float = 10.0
    _last: float = field(default=-1e9)
    _step: tuple[str, int] = ("", -1)

    def __call__(self, event: StageEvent) -> None:
        now = time.perf_counter()
        step = (event.stage, event.done)
        stepped = (
            step != self._step
            and event.total is not None
            and event.total <= FEW_STEPS
            and event.done < event.total  # the last step's end is the stage's
        )
        starting = step != self._step and event.done == 0
        if not (starting or stepped or event.ended or now - self._last >= self.every):
            return
        self._last, self._step = now, step
        self.write(describe(event))


def describe(event: StageEvent) -> str:
    """One line on where training is."""
    if event.ended:
        return f"{event.stage}: done in {event.seconds:.1f} s"
    where = ""
    unit = f"{event.unit} " if event.unit else ""
    if event.total:
        where = f", {unit}{min(event.done + 1, event.total)} of {event.total}"
    elif event.done:
        where = f", {event.done} done"
    return f"{event.stage}{where}, {event.seconds:.0f} s"
