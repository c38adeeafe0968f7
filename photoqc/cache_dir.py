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


def private_folder(path: str | os.PathLike[str]) -> Path:
    """``path`` made (with its missing parents) readable and writable by this user only
    (0700): what photoqc keeps there decides verdicts and must not be planted by another
    user. A folder that exists already keeps its mode."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for made in missing:
        try:
            os.chmod(made, 0o700)
        except OSError:
            pass
    return path
