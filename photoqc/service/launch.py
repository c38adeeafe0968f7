"""Start the service: one process, or several on one port (``photoqc serve``)."""

from __future__ import annotations

import logging
import os
import signal

from photoqc.service.settings import CONFIG_ENV, ServeSettings

logger = logging.getLogger(__name__)


def serve(settings: ServeSettings, *, host: str, port: int, workers: int = 1) -> None:
    """Serve until stopped (SIGINT/SIGTERM: in-flight checks finish, then the process
    exits). With ``workers > 1`` uvicorn starts that many processes on one port, each
    loading the model once; the settings reach them through :data:`CONFIG_ENV`.

    Raises
    ------
    ServiceConfigError
        The settings cannot work (an API-key variable that is empty), said before any
        process starts.
    """
    import uvicorn

    settings.api_key()  # refuse a missing key here, once, not in every worker
    # uvicorn handles SIGINT/SIGTERM itself (graceful shutdown).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if workers == 1:
        from photoqc.service.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
        return
    os.environ[CONFIG_ENV] = settings.to_env()
    uvicorn.run(
        "photoqc.service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )
