"""Where photoqc keeps what it can make again: feature rows for retraining, copies of
photos, built network graphs."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "PHOTOQC_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$PHOTOQC_CACHE_DIR``, else ``$XDG_CACHE_HOME/photoqc``, else ``~/.cache/photoqc``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "photoqc"
