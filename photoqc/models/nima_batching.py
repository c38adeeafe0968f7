"""NIMA on a thread of its own, gathering what concurrent callers send into one batch.

Two things come of it. In a batch job the networks run while the calling thread segments
and measures the same photos (ONNX Runtime and OpenCV release the GIL, so the two cores
of a small machine are both busy: ``benchmarks/bench_score.py``). In the HTTP service,
requests that arrive within ``window_s`` of each other share one forward pass (up to
``max_batch`` photos): a batch of 8 costs about 0.7x per photo what 8 single passes cost.
A request's photo goes to NIMA as soon as it is decoded and is segmented and measured
meanwhile, so a window shorter than that work (25 ms is; a 500x500 photo's takes ~45 ms)
costs the request no time.

Each caller gets its own photos' outputs back, in its own order; a batch that fails is
run again caller by caller, so one caller's failure never costs another its values.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from photoqc.models.nima_predict import NimaPredictor

logger = logging.getLogger(__name__)

Outputs = tuple[list[dict[str, tuple[float, float]]], list[dict[str, np.ndarray]]]
""":meth:`NimaPredictor.outputs`: per image, (mean, std) and embedding per model."""

DEFAULT_MAX_BATCH = 32
"""Photos in one forward pass at most (memory: about 1.2 MB of input per photo)."""


@dataclass
class _Job:
    images: Sequence[np.ndarray]
    future: Future = field(default_factory=Future)


class NimaBatcher:
    """Runs ``predictor`` on one background thread; :meth:`submit` returns at once.

    Parameters
    ----------
    predictor : NimaPredictor
        The networks.
    window_s : float
        After the first waiting job, how long to wait for more before running (seconds;
        0: run what is waiting now, the choice for one caller sending whole batches).
    max_batch : int
        Photos per forward pass at most; a job is never split, so one larger job runs
        alone.
    """

    def __init__(
        self,
        predictor: NimaPredictor,
        window_s: float = 0.0,
        max_batch: int = DEFAULT_MAX_BATCH,
    ):
        if window_s < 0 or max_batch < 1:
            raise ValueError("window_s must be >= 0 and max_batch >= 1")
        self.predictor = predictor
        self.window_s = window_s
        self.max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0
        """Forward passes run so far (for tests and metrics)."""

    def submit(self, images: Sequence[np.ndarray]) -> Future:
        """Queue a batch of RGB uint8 images; the future's result is their
        :data:`Outputs`, or the exception the networks raised on them."""
        job = _Job(list(images))
        if not job.images:
            job.future.set_result(([], []))
            return job.future
        self._start()
        self._jobs.put(job)
        return job.future

    def outputs(self, images: Sequence[np.ndarray]) -> Outputs:
        """:meth:`submit` and wait."""
        return self.submit(images).result()

    def close(self) -> None:
        """Stop the thread once the jobs already queued are done."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._serve, name="photoqc-nima", daemon=True
                )
                self._thread.start()

    def _serve(self) -> None:
        carried: _Job | None = None  # a job that did not fit the last batch starts the next
        while True:
            first = carried or self._jobs.get()
            carried = None
            if first is None:
                return
            jobs, count, stop = [first], len(first.images), False
            deadline = time.monotonic() + self.window_s
            while count < self.max_batch:
                try:
                    wait = deadline - time.monotonic()
                    job = self._jobs.get(timeout=wait) if wait > 0 else self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                if count + len(job.images) > self.max_batch:
                    carried = job
                    break
                jobs.append(job)
                count += len(job.images)
            self._run_batch(jobs)
            if stop:
                return

    def _run_batch(self, jobs: list[_Job]) -> None:
        if len(jobs) == 1:
            self._run(jobs)
            return
        images = [im for job in jobs for im in job.images]
        try:
            scores, embeddings = self.predictor.outputs(images)
            self.batches += 1
        except Exception:  # one caller's photo must not cost the others their values
            logger.warning("NIMA failed on a shared batch; running its %d parts alone", len(jobs))
            for job in jobs:
                self._run([job])
            return
        start = 0
        for job in jobs:
            end = start + len(job.images)
            job.future.set_result((scores[start:end], embeddings[start:end]))
            start = end

    def _run(self, jobs: list[_Job]) -> None:
        for job in jobs:
            try:
                result = self.predictor.outputs(job.images)
                self.batches += 1
            except BaseException as exc:  # handed to the caller, who decides
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)
