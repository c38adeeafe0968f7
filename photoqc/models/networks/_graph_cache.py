"""Built network graphs kept on disk, so that a process starts without building them.

Building NIMA's ONNX graph from its weights needs the ``onnx`` package, whose import alone
(with ml_dtypes) took 0.47 s of every ``photoqc score`` start-up on 2 cores. The
serialised graph is a pure function of the weights file's bytes and of the code that
builds it, so it is kept under ``<cache dir>/graphs/`` by the SHA-256 of both and read
back as bytes (protobuf: nothing is unpickled). A cache that cannot be written (a
read-only home, a worker without one) only costs the build; a file that ONNX Runtime
cannot read is built again and replaced (:func:`cached_graph` with ``refresh=True``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from photoqc.cache_dir import default_cache_dir

logger = logging.getLogger(__name__)

GRAPHS = "graphs"
"""The cache's sub-folder of built graphs."""


def graph_key(parts: Iterable[bytes]) -> str:
    """SHA-256 (hex) of ``parts``, each length-prefixed so that no two lists collide."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()


def cached_graph(
    name: str,
    key: str,
    build: Callable[[], bytes],
    *,
    folder: str | os.PathLike[str] | None = None,
    refresh: bool = False,
) -> bytes:
    """The serialised graph ``name`` for ``key``: read from the cache, or built by
    ``build()`` and kept there (atomically: a reader never sees half a file).
    ``refresh`` builds it again whatever the cache holds."""
    path = Path(folder or default_cache_dir() / GRAPHS) / f"{name}-{key[:40]}.onnx"
    if not refresh:
        try:
            return path.read_bytes()
        except OSError:
            pass
    graph = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(graph)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as exc:
        logger.debug("built graph %s not kept in %s: %s", name, path.parent, exc)
    return graph
