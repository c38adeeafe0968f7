"""What an engine is: the one small interface between the batch runner and where batches run.

The runner (:mod:`photoqc.pipelines.batch.runner`) cuts the inputs into batches and hands
them to an engine with a :class:`Job`; the engine builds the job's processor where the work
happens (once per process or actor, never per batch), runs every batch, and yields each
batch back with its rows, in whatever order they finish. An engine knows nothing of
features, models or output files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # engines carry items; they never look inside them
    from photoqc.assess.items import InputItem

Row = dict[str, object]
"""One output row (column name to value)."""

Batch = list[tuple[int, "InputItem"]]
"""Consecutive inputs with their positions in the run (numbered from 0)."""


class BatchProcessor(Protocol):
    """Turns a batch of inputs into rows (one per input, in order), never raising for a bad
    file; says what the row of an input that could not be processed is; and lets go of
    its threads and networks on ``close()`` (the engine calls it on the processors it
    built, when their work is done)."""

    def rows(self, items: Sequence[InputItem]) -> list[Row]: ...

    def error_row(self, item: InputItem, message: str) -> Row: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Job:
    """What to run on every batch.

    Attributes
    ----------
    factory : callable
        Builds the processor; called with ``args`` once in each place the work runs, so
        it and ``args`` must be picklable (a class and plain data).
    args : tuple
        Arguments of ``factory``.
    batch_size : int
        Inputs per batch the processor prefers (NIMA runs once per batch).
    local : BatchProcessor, optional
        A processor already built in this process, used when the work stays here so its
        models are not loaded a second time.
    """

    factory: Callable[..., BatchProcessor]
    args: tuple = ()
    batch_size: int = 16
    local: BatchProcessor | None = None

    def build(self) -> BatchProcessor:
        """The processor for this process: ``local`` when there is one, else a new one."""
        return self.local if self.local is not None else self.factory(*self.args)

    def release(self, processor: BatchProcessor) -> None:
        """Close ``processor`` if :meth:`build` made it (``local`` is its caller's)."""
        if processor is not self.local:
            close_processor(processor)


def close_processor(processor: BatchProcessor) -> None:
    """``processor.close()``, for a processor that has one (one written before processors
    held anything to let go of may not)."""
    close = getattr(processor, "close", None)
    if close is not None:
        close()


class Engine(Protocol):
    """Where batches run."""

    name: str

    def batch_size(self, n_items: int, preferred: int) -> int:
        """Inputs per batch for a run of ``n_items`` (e.g. smaller, to keep many workers
        busy to the end)."""
        ...

    def run(self, batches: Iterable[Batch], job: Job) -> Iterator[tuple[Batch, list[Row]]]:
        """Every batch with its rows (one per input, in the batch's order), in the order
        they finish. A KeyboardInterrupt stops the work at once and is raised again."""
        ...

    def where(self) -> str | None:
        """Where the last run's rows were made, in words worth saying (the worker
        processes it chose, the nodes and actors of a cluster), or None."""
        ...


def batched(items: Iterable[InputItem], size: int) -> Iterator[Batch]:
    """Consecutive batches of ``(position, item)``, positions from 0, as ``items`` stream."""
    batch: Batch = []
    for pair in enumerate(items):
        batch.append(pair)
        if len(batch) >= max(1, size):
            yield batch
            batch = []
    if batch:
        yield batch
