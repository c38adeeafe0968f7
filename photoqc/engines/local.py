"""The ``local`` engine: batches run in this process, or in worker processes on this machine.

With one worker the job's processor runs here. With several, each worker process builds
its own processor once (models load once per process, not per image) and batches are
handed out as workers free up; they come back with their rows in order of completion. A
worker that dies (a native decoder's segfault, the out-of-memory killer) breaks the pool:
the images still out are redone one at a time in a fresh worker, so only the image that
killed it gets an error row.

Workers never outlive the run: each asks the kernel to end it when its parent dies
(``PR_SET_PDEATHSIG``) and watches its parent besides, so a ``kill -9`` of the main
process leaves no orphan behind; workers ignore Ctrl-C, which the main process handles by
stopping them at once (the rows written so far are kept).
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import multiprocessing
import multiprocessing.util
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from photoqc.engines.base import Batch, BatchProcessor, Job, Row, close_processor
from photoqc.errors import PhotoqcError

logger = logging.getLogger(__name__)


class WorkerStartError(PhotoqcError):
    """Worker processes died before returning any result (they could not start)."""


PHOTOS_PER_AUTO_WORKER = 100
"""With ``workers=None``, one worker process per this many photos to score, up to the
machine's cores. A second process costs a second start-up (the model, the networks) and
pays back on about 200 photos: on 2 cores, 100 photos took 5.6 s with 1 worker and 6.0 s
with 2; 400 photos 18.7 s and 17.6 s (2026-12-04; one process is held back by the GIL in
the segmentation's graph cut, which two processes are not)."""


WORKER_MEMORY_BYTES = 3 << 29
"""Memory one worker process may take (1.5 GiB: a score run of 100 photos peaked at
1.4 GB): auto never starts more than the free memory holds."""


def available_memory() -> int | None:
    """Bytes of physical memory free now (Linux), or None where unknown."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def auto_workers(n_items: int, cores: int | None = None, memory: int | None = None) -> int:
    """Worker processes for a run of ``n_items``: ``n_items //``
    :data:`PHOTOS_PER_AUTO_WORKER`, between 1 and the machine's cores, and no more than
    ``memory`` bytes (default: what is free now) hold at :data:`WORKER_MEMORY_BYTES` each."""
    cores = cores or os.cpu_count() or 1
    memory = available_memory() if memory is None else memory
    fit = cores if memory is None else max(1, memory // WORKER_MEMORY_BYTES)
    return max(1, min(cores, fit, n_items // PHOTOS_PER_AUTO_WORKER))


class LocalEngine:
    """Batches in this process (``workers=1``) or in a pool of worker processes.

    Parameters
    ----------
    workers : int or None
        Processes in parallel; each builds the job's processor once. None: chosen for the
        run's size (:func:`auto_workers`) when its batches are planned
        (:meth:`batch_size`); :attr:`chosen` then says what was chosen and why.
    """

    name = "local"

    def __init__(self, workers: int | None = 1):
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.auto = workers is None
        self.workers = 1 if workers is None else workers
        self.chosen: str | None = None

    def where(self) -> str | None:
        """How many worker processes a run chose for itself, when it chose more than one."""
        return self.chosen if self.chosen and self.workers > 1 else None

    def batch_size(self, n_items: int, preferred: int) -> int:
        """With several workers, smaller batches keep every worker busy to the end."""
        if self.auto:
            self.workers = auto_workers(n_items)
            cores = os.cpu_count() or 1
            self.chosen = (
                f"{self.workers} worker process{'es' if self.workers > 1 else ''} for "
                f"{n_items} photos on {cores} cores (one per {PHOTOS_PER_AUTO_WORKER} photos, "
                "up to a core and 1.5 GiB of free memory each; --workers N to choose)"
            )
            logger.info("local engine: %s", self.chosen)
        if self.workers <= 1:
            return preferred
        return max(1, min(preferred, n_items // (2 * self.workers)))

    def run(self, batches: Iterable[Batch], job: Job) -> Iterator[tuple[Batch, list[Row]]]:
        """Yield every batch with its rows (one per item, in the batch's order).

        A KeyboardInterrupt (Ctrl-C, or SIGTERM turned into one) stops the workers at once
        and is raised again.
        """
        batches = iter(batches)
        first = list(itertools.islice(batches, 2))
        if self.workers <= 1 or len(first) <= 1:
            processor = job.build()
            try:
                for batch in itertools.chain(first, batches):
                    yield batch, processor.rows([item for _, item in batch])
            finally:
                job.release(processor)
            return
        yield from _in_pool(itertools.chain(first, batches), job, self.workers)


BATCHES_PER_WORKER = 4
"""Batches handed to the pool ahead of what it has finished, per worker: enough to keep
every worker busy, few enough that a manifest of millions is never all in flight (the
main process's memory stays flat in the manifest's length)."""


def _in_pool(batches: Iterable[Batch], job: Job, workers: int) -> Iterator[tuple[Batch, list[Row]]]:
    threads = max(1, (os.cpu_count() or 1) // workers)
    unfinished: list[Batch] = []
    finished = 0
    window = BATCHES_PER_WORKER * workers
    batches = iter(batches)
    pool = _pool(workers, job, threads)
    pending: dict = {}
    broken = False

    def refill() -> None:
        while not broken and len(pending) < window:
            batch = next(batches, None)
            if batch is None:
                return
            pending[pool.submit(_worker_rows, [item for _, item in batch])] = batch

    try:
        refill()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                batch = pending.pop(future)
                try:
                    rows = future.result()
                except BrokenProcessPool:
                    # A dead worker breaks the whole pool: every batch still out fails with
                    # it, though only one image (or none: the workers never started) did
                    # the harm. They are all redone below, one image at a time.
                    unfinished.append(batch)
                    broken = True
                    continue
                finished += 1
                yield batch, rows
            refill()
    except BaseException:
        _stop_now(pool)
        raise
    pool.shutdown(wait=True)
    if unfinished:
        unfinished.extend(batches)  # what was never handed out goes the same way
        items = sorted((pair for batch in unfinished for pair in batch), key=lambda p: p[0])
        yield from _one_at_a_time(items, job, threads, anything_finished=finished > 0)


def _stop_now(pool: ProcessPoolExecutor) -> None:
    """End a pool without waiting for the batches it is working on (their rows are lost,
    to be redone by a resumed run)."""
    # The executor has no public way to kill busy workers; its process table is stable
    # across the Python versions photoqc supports.
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def _pool(workers: int, job: Job, threads: int) -> ProcessPoolExecutor:
    # spawn, not fork: a forked copy of a process that has started torch's thread pool can
    # deadlock.
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(job.factory, job.args, threads),
    )


def _one_at_a_time(
    items: Batch, job: Job, threads: int, *, anything_finished: bool
) -> Iterator[tuple[Batch, list[Row]]]:
    """Redo ``items`` in one worker, one image at a time, after the pool broke.

    With a single image in flight, a worker that dies names the image that killed it: that
    image gets an error row and a fresh worker goes on with the rest. Until some image has
    come back, a death may as well mean that workers cannot start at all: the image is put
    last, and a second death with nothing come back ends the run with
    :class:`WorkerStartError`.
    """
    logger.warning("a worker process died; redoing %d images one at a time", len(items))
    fallback: list[BatchProcessor] = []  # built here for the error rows of images that kill
    try:
        yield from _redo(items, job, threads, anything_finished, fallback)
    finally:
        for processor in fallback:
            job.release(processor)


def _redo(
    items: Batch, job: Job, threads: int, anything_finished: bool, fallback: list
) -> Iterator[tuple[Batch, list[Row]]]:
    """:func:`_one_at_a_time`'s loop (``fallback`` holds the processor it builds)."""
    queue = list(items)
    deaths_before_any_result = 0
    while queue:
        with _pool(1, job, threads) as pool:
            while queue:
                index, item = queue.pop(0)
                try:
                    row = pool.submit(_worker_rows, [item]).result()[0]
                except KeyboardInterrupt:
                    _stop_now(pool)
                    raise
                except BrokenProcessPool as exc:
                    if not anything_finished:
                        deaths_before_any_result += 1
                        if deaths_before_any_result >= 2 or not queue:
                            raise WorkerStartError(
                                "worker processes died before finishing any work. If you "
                                "call photoqc from a script with workers > 1, put the call "
                                "under `if __name__ == '__main__':` (workers are spawned); "
                                "otherwise try --workers 1 to see the error"
                            ) from exc
                        queue.append((index, item))
                        break  # the pool is broken: a fresh worker for the rest
                    if not fallback:
                        fallback.append(job.build())
                    message = "worker process died while processing this image (out of memory?)"
                    yield [(index, item)], [fallback[0].error_row(item, message)]
                    break
                anything_finished = True
                yield [(index, item)], [row]


# One processor per worker process, built by the pool's initializer.
_worker_processor: BatchProcessor | None = None


PARENT_CHECK_SECONDS = 1.0
"""How often a worker checks that the process that started it is still alive."""

_PR_SET_PDEATHSIG = 1


def _init_worker(factory: Callable[..., BatchProcessor], args: tuple, threads: int) -> None:
    global _worker_processor
    _die_with_parent()
    # Ctrl-C reaches the whole process group; the main process decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_thread_count(threads)
    _worker_processor = factory(*args)
    # When the pool lets the worker go, its processor goes first (threads, sessions).
    multiprocessing.util.Finalize(None, close_processor, (_worker_processor,), exitpriority=10)


def _die_with_parent() -> None:
    """End this process soon after its parent ends, however the parent ended."""
    parent = os.getppid()
    try:  # Linux: the kernel sends SIGKILL the moment the parent dies
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    if os.getppid() != parent:  # the parent died before the request took
        os._exit(1)

    def watch() -> None:  # elsewhere, and as a second line: poll
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="photoqc-parent-watch", daemon=True).start()


def _worker_rows(items: list) -> list[Row]:
    assert _worker_processor is not None, "worker used before its initializer ran"
    return _worker_processor.rows(items)


def set_thread_count(threads: int) -> None:
    """Limit OpenCV's, ONNX Runtime's and torch's thread pools (per process) to
    ``threads``. torch is not imported for it (a second of start-up a worker that scores
    never needs): where it is not loaded yet, the OpenMP setting it reads at import does
    it."""
    import sys

    import cv2

    cv2.setNumThreads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
