"""Run a batch processor over many inputs, in this process or in worker processes.

A *processor* is any object with ``rows(items) -> list of rows`` and
``error_row(item, message) -> row``, built by a picklable factory. With several workers
each process builds its own processor once (models load once per process, not per image)
and batches are handed out as workers free up. Rows come back tagged with their input
index, batch by batch, in order of completion.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from photoqc.pipelines.inputs import InputItem

Row = dict[str, object]


class WorkerStartError(RuntimeError):
    """Worker processes died before returning any result (they could not start)."""


Batch = list[tuple[int, InputItem]]


class BatchProcessor(Protocol):
    def rows(self, items: Sequence[InputItem]) -> list[Row]: ...

    def error_row(self, item: InputItem, message: str) -> Row: ...


def batched(items: Sequence[InputItem], size: int) -> list[Batch]:
    """Consecutive batches of ``(index, item)``."""
    indexed = list(enumerate(items))
    return [indexed[i : i + size] for i in range(0, len(indexed), max(1, size))]


def batch_size_for(n_items: int, batch_size: int, workers: int) -> int:
    """With several workers, smaller batches keep every worker busy to the end."""
    if workers <= 1:
        return batch_size
    return max(1, min(batch_size, n_items // (2 * workers)))


def run_batches(
    batches: list[Batch],
    factory: Callable[..., BatchProcessor],
    args: tuple = (),
    *,
    workers: int = 1,
) -> Iterator[tuple[int, Row]]:
    """Yield ``(input index, row)`` for every item of every batch."""
    if workers <= 1 or len(batches) <= 1:
        processor = factory(*args)
        for batch in batches:
            rows = processor.rows([item for _, item in batch])
            yield from zip((i for i, _ in batch), rows, strict=True)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    # spawn, not fork: a forked copy of a process that has started torch's thread pool can
    # deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(factory, args, threads),
    ) as pool:
        pending = {
            pool.submit(_worker_rows, [item for _, item in batch]): batch for batch in batches
        }
        fallback = None
        finished = 0
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                batch = pending.pop(future)
                try:
                    rows = future.result()
                except BrokenProcessPool as exc:
                    if finished == 0:
                        # Not one batch came back: the workers could not start at all.
                        raise WorkerStartError(
                            "worker processes died before finishing any work. If you call "
                            "photoqc from a script with workers > 1, put the call under "
                            "`if __name__ == '__main__':` (workers are spawned); otherwise "
                            "try --workers 1 to see the error"
                        ) from exc
                    fallback = fallback or factory(*args)
                    message = "worker process died while processing this batch (out of memory?)"
                    rows = [fallback.error_row(item, message) for _, item in batch]
                finished += 1
                yield from zip((i for i, _ in batch), rows, strict=True)


# One processor per worker process, built by the pool's initializer.
_worker_processor: BatchProcessor | None = None


def _init_worker(factory: Callable[..., BatchProcessor], args: tuple, threads: int) -> None:
    global _worker_processor
    set_thread_count(threads)
    _worker_processor = factory(*args)


def _worker_rows(items: list[InputItem]) -> list[Row]:
    assert _worker_processor is not None, "worker used before its initializer ran"
    return _worker_processor.rows(items)


def set_thread_count(threads: int) -> None:
    """Limit OpenCV's and torch's thread pools (per process) to ``threads``."""
    import cv2
    import torch

    cv2.setNumThreads(threads)
    torch.set_num_threads(threads)
