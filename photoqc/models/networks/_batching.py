"""Networks on a thread of their own, gathering what concurrent callers send into one batch.

Two things come of it. In a batch job the networks run while the calling thread segments
and measures the same photos (ONNX Runtime and OpenCV release the GIL, so the two cores
of a small machine are both busy: ``benchmarks/bench_score.py``). In the HTTP service,
requests that arrive within ``window_s`` of each other share one forward pass (up to
``max_batch`` photos; on 2 cores a pass of 8 cost 9.6 ms a photo for both NIMA networks
and a single pass 9.9 ms, 2026-12-04: the gain is the overlap, not the batch).
A request's photo goes to the networks as soon as it is decoded and is segmented and
measured meanwhile, so a window shorter than that work (25 ms is; a 500x500 photo's takes
~45 ms) costs the request no time.

Each caller gets its own photos' outputs back, in its own order; a batch that fails is
run again caller by caller, so one caller's failure never costs another its values.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import weakref
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import numpy as np

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_MAX_BATCH = 8
"""Photos in one forward pass at most (memory: about 1.2 MB of input per photo)."""


class Predictor(Protocol[T]):
    """What a :class:`Batcher` runs: images in, one output per image out, in order."""

    def outputs(self, images: Sequence[np.ndarray]) -> list[T]: ...

    def close(self) -> None: ...


@dataclass
class _Job:
    images: Sequence[np.ndarray]
    future: Future = field(default_factory=Future)


class ClosedError(RuntimeError):
    """Work was sent to a batcher (or network) that was closed."""


class Batcher(Generic[T]):
    """Runs ``predictor`` on one background thread; :meth:`submit` returns at once.

    Parameters
    ----------
    predictor : Predictor
        The networks: ``outputs(images)`` gives one value per image.
    window_s : float
        After the first waiting job, how long to wait for more before running (seconds;
        0: run what is waiting now, the choice for one caller sending whole batches).
    max_batch : int
        Photos per forward pass at most; a job is never split, so one larger job runs
        alone.
    name : str
        The thread's name (``photoqc-nima``): says in a thread dump whose it is.

    A batcher owns its predictor: :meth:`close` (also on leaving a ``with`` block) stops
    the thread once the jobs already queued are done, then closes the predictor. A
    batcher dropped without closing does the same when it is collected (the thread holds
    the queue and the predictor, never the batcher). Its thread starts with the first
    job, so a batcher never used holds no thread.
    """

    def __init__(
        self,
        predictor: Predictor[T],
        window_s: float = 0.0,
        max_batch: int = DEFAULT_MAX_BATCH,
        name: str = "photoqc-network",
    ):
        if window_s < 0 or max_batch < 1:
            raise ValueError("window_s must be >= 0 and max_batch >= 1")
        self.predictor = predictor
        self.window_s = window_s
        self.max_batch = max_batch
        self.name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._counts = _Counts()
        # Collected unclosed: the thread is told to stop and closes the predictor itself.
        self._finalizer = weakref.finalize(self, _release, self._jobs, predictor, [False])

    @property
    def batches(self) -> int:
        """Forward passes run so far (for tests and metrics)."""
        return self._counts.batches

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def submit(self, images: Sequence[np.ndarray]) -> Future:
        """Queue a batch of RGB uint8 images; the future's result is their outputs (a
        list, one per image), or the exception the networks raised on them.

        Raises
        ------
        ClosedError
            After :meth:`close`.
        """
        job = _Job(list(images))
        if not job.images:
            job.future.set_result([])
            return job.future
        with self._lock:
            if not self._finalizer.alive:
                raise ClosedError(f"{self.name}: the batcher was closed")
            if self._thread is None:
                self._finalizer.detach()
                self._thread = threading.Thread(
                    target=_serve,
                    args=(
                        self._jobs,
                        self.predictor,
                        self.window_s,
                        self.max_batch,
                        self.name,
                        self._counts,
                    ),
                    name=self.name,
                    daemon=True,
                )
                # The thread now closes the predictor when told to stop.
                self._finalizer = weakref.finalize(self, _release, self._jobs, None, [True])
                self._thread.start()
            self._jobs.put(job)
        return job.future

    def outputs(self, images: Sequence[np.ndarray]) -> list[T]:
        """:meth:`submit` and wait."""
        return self.submit(images).result()

    def close(self) -> None:
        """Stop the thread once the jobs already queued are done and close the predictor
        (after the thread has finished with it); idempotent."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._finalizer()
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def __enter__(self) -> Batcher[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Counts:
    batches: int = 0


def _release(jobs: queue.SimpleQueue, predictor: Predictor | None, started: list[bool]) -> None:
    """Stop a batcher: tell its thread (which then closes the predictor), or, before any
    thread started, close the predictor here."""
    if started[0]:
        jobs.put(None)
    elif predictor is not None:
        predictor.close()


def _serve(
    jobs: queue.SimpleQueue,
    predictor: Predictor,
    window_s: float,
    max_batch: int,
    name: str,
    counts: _Counts,
) -> None:
    """The batcher's thread: gather jobs into batches until told to stop, then close the
    predictor (the networks' sessions go with it)."""
    carried: _Job | None = None  # a job that did not fit the last batch starts the next
    try:
        while True:
            first = carried or jobs.get()
            carried = None
            if first is None:
                return
            batch, count, stop = [first], len(first.images), False
            deadline = time.monotonic() + window_s
            while count < max_batch:
                try:
                    wait = deadline - time.monotonic()
                    job = jobs.get(timeout=wait) if wait > 0 else jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                if count + len(job.images) > max_batch:
                    carried = job
                    break
                batch.append(job)
                count += len(job.images)
            _run_batch(batch, predictor, name, counts)
            if stop:
                return
    finally:
        predictor.close()


def _run_batch(jobs: list[_Job], predictor: Predictor, name: str, counts: _Counts) -> None:
    if len(jobs) == 1:
        _run(jobs, predictor, counts)
        return
    images = [im for job in jobs for im in job.images]
    try:
        outputs = predictor.outputs(images)
        counts.batches += 1
    except Exception:  # one caller's photo must not cost the others their values
        logger.warning("%s failed on a shared batch; running its %d parts alone", name, len(jobs))
        for job in jobs:
            _run([job], predictor, counts)
        return
    start = 0
    for job in jobs:
        end = start + len(job.images)
        job.future.set_result(outputs[start:end])
        start = end


def _run(jobs: list[_Job], predictor: Predictor, counts: _Counts) -> None:
    for job in jobs:
        try:
            result = predictor.outputs(job.images)
            counts.batches += 1
        except BaseException as exc:  # handed to the caller, who decides
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)
