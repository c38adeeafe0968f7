"""Run a long native call (a LAPACK eigendecomposition) so that Ctrl-C and SIGTERM still
stop the program at once.

Python runs signal handlers in the main thread between bytecodes, so a single call that
stays in LAPACK for half a minute holds a Ctrl-C (or the SIGTERM photoqc turns into one)
until it returns. :func:`call` runs the work on a daemon thread and waits for it in short
slices: the main thread stays free to raise KeyboardInterrupt, and the abandoned thread
ends with the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

WAIT_SLICE_S = 0.1
"""How long the main thread waits between looks (and chances for a signal to land)."""


def call(work: Callable[[], T], step: Callable[[], None] | None = None) -> T:
    """``work()``, run so that a signal can interrupt the wait for it; ``step()`` is called
    about every second while it runs (progress). Exceptions from ``work`` are raised here."""
    if threading.current_thread() is not threading.main_thread():
        return work()  # signals never land here anyway
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # handed to the caller
            failure.append(exc)

    thread = threading.Thread(target=run, name="photoqc-native", daemon=True)
    thread.start()
    waited = 0.0
    while thread.is_alive():
        thread.join(WAIT_SLICE_S)
        waited += WAIT_SLICE_S
        if step is not None and waited >= 1.0:
            waited = 0.0
            step()
    if failure:
        raise failure[0]
    return result[0]
