"""What one service process needs, and its defaults (read by ``photoqc serve``'s options)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from photoqc.errors import PhotoqcError
from photoqc.images import DEFAULT_MAX_PIXELS

CONFIG_ENV = "PHOTOQC_SERVE_CONFIG"
"""Environment variable through which ``photoqc serve --workers N`` hands its settings to
each worker process (JSON of :class:`ServeSettings`)."""


class ServiceConfigError(PhotoqcError):
    """The service cannot start as configured."""


@dataclass(frozen=True)
class ServeSettings:
    """What one service process needs.

    Attributes
    ----------
    model : str or None
        Model folder; None for the built-in model.
    model_sha256 : str or None
        The only model folder ``sha256`` accepted (``--model-sha256``); None: any intact one.
    max_upload_mb : float
        Largest request body, MB (10^6 bytes); larger ones get 413 unread.
    max_pixels : int
        Largest photo, pixels; checked from the header before decoding (413).
    api_key_env : str or None
        Name of the environment variable that holds the API key; None: no key needed.
    timeout_s : float
        Seconds a check may take before it is answered with 504.
    threads : int
        Checks run at once in this process (the CPU pool).
    queue : int
        Checks that may wait for the pool; more get 503.
    read_timeout_s : float
        Seconds a client may take to send its request line and headers, and again its
        whole body; past them it gets 408 and the connection is closed.
    max_photos : int
        Most photos one ``POST /v1/rank`` may send (each within ``max_upload_mb``).
    nima_batch_ms : float
        How long a photo ready for NIMA waits for other requests' photos to share one
        forward pass, milliseconds (0: no waiting; checks still share what is queued).
    """

    model: str | None = None
    model_sha256: str | None = None
    max_upload_mb: float = 25.0
    max_pixels: int = DEFAULT_MAX_PIXELS
    api_key_env: str | None = None
    timeout_s: float = 10.0
    threads: int = 2
    queue: int = 16
    read_timeout_s: float = 15.0
    max_photos: int = 20
    nima_batch_ms: float = 25.0

    @property
    def grace_s(self) -> float:
        """Seconds a shutdown waits for checks in flight before it cancels them."""
        return self.timeout_s + 2.0

    def api_key(self) -> str:
        """The API key clients must send; empty when none is needed.

        Raises
        ------
        ServiceConfigError
            ``api_key_env`` names a variable that is empty or unset.
        """
        if not self.api_key_env:
            return ""
        key = os.environ.get(self.api_key_env, "")
        if not key:
            raise ServiceConfigError(
                f"--api-key-env {self.api_key_env}: that environment variable is empty or unset"
            )
        return key

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeSettings:
        return cls(**json.loads(os.environ.get(CONFIG_ENV, "{}")))
