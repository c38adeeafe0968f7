"""Start the service: one process, or several on one port (``photoqc serve``)."""

from __future__ import annotations

import logging
import os
import signal

from photoqc.service.protocol import (
    ACCEPT_BACKLOG,
    WORKER_PROTOCOL,
    AcceptErrors,
    connection_cap,
    guarded_protocol,
)
from photoqc.service.settings import CONFIG_ENV, ServeSettings

logger = logging.getLogger(__name__)


def serve(settings: ServeSettings, *, host: str, port: int, workers: int = 1) -> None:
    """Serve until stopped. SIGINT/SIGTERM: no new connections; checks in flight finish
    (for up to ``timeout_s`` + 2 s), uploads still trickling in get 503, then the process
    exits 0. With ``workers > 1`` uvicorn starts that many processes on one port, each
    loading the model once; the settings reach them through :data:`CONFIG_ENV`.

    Raises
    ------
    ServiceConfigError
        The settings cannot work (an API-key variable that is empty), said before any
        process starts.
    """
    import uvicorn

    settings.api_key()  # refuse a missing key here, once, not in every worker
    logging.getLogger("asyncio").addFilter(AcceptErrors())
    # uvicorn handles SIGINT/SIGTERM itself (graceful shutdown), then raises the signal
    # again for the handler it found: a stop asked for is a clean exit (status 0).
    signal.signal(signal.SIGTERM, _exit_cleanly)
    options = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "http": guarded_protocol(settings.read_timeout_s, connection_cap()),
        "timeout_graceful_shutdown": settings.grace_s,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "backlog": ACCEPT_BACKLOG,
    }
    if workers == 1:
        from photoqc.service.app import create_app

        uvicorn.run(create_app(settings), **options)
        return
    os.environ[CONFIG_ENV] = settings.to_env()
    options["http"] = WORKER_PROTOCOL  # workers import it: a class made here cannot travel
    uvicorn.run("photoqc.service.app:create_app", factory=True, workers=workers, **options)


def _exit_cleanly(signum, frame) -> None:
    raise SystemExit(0)


MAX_HEADER_BYTES = 32 * 1024
"""Largest request line plus headers: a browser sends a few KB; larger gets 431."""
