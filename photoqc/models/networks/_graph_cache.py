"""Built network graphs kept on disk, so that a process starts without building them.

Building NIMA's ONNX graph from its weights needs the ``onnx`` package, whose import alone
(with ml_dtypes) took 0.47 s of every ``photoqc score`` start-up on 2 cores. The
serialised graph is a pure function of the weights file's bytes and of the code that
builds it, so it is kept under ``<cache dir>/graphs/`` by the SHA-256 of both and read
back as bytes (protobuf: nothing is unpickled). A cache that cannot be written (a
read-only home, a worker without one) only costs the build; a file that ONNX Runtime
cannot read is built again and replaced (:func:`cached_graph` with ``refresh=True``).

Nothing read from the cache is trusted (a graph decides every verdict): a graph is used
only when it is a regular file (no link, FIFO or device), owned by this user and not
writable by anyone else, in a folder of the same kind, of a sane size, and its SHA-256 is
the one this photoqc recorded beside it when it built it (``.sha256``, written after the
graph, atomically). Anything else is built again, with one log line. The folders photoqc
makes for the cache are private (0700).
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from photoqc.cache_dir import default_cache_dir, private_folder

logger = logging.getLogger(__name__)

GRAPHS = "graphs"
"""The cache's sub-folder of built graphs."""
MAX_GRAPH_BYTES = 256 << 20
"""Largest graph file read (NIMA's are about 13 MB)."""


class UntrustedCacheFile(Exception):
    """A cache file that must not be used; the message says why."""


def read_trusted(path: Path, limit: int = MAX_GRAPH_BYTES) -> bytes:
    """The bytes of ``path`` if it is a regular file (not followed through a link), owned
    by this user, writable by no one else, in a folder writable by no one else, and at most
    ``limit`` bytes; else :class:`UntrustedCacheFile` (OSError when it cannot be read)."""
    folder = os.stat(path.parent)
    if folder.st_uid != os.getuid() or folder.st_mode & 0o022:
        raise UntrustedCacheFile(f"its folder {path.parent} is writable by others")
    # O_NOFOLLOW: a link is refused; O_NONBLOCK: opening a FIFO never waits for a writer.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UntrustedCacheFile("not a regular file")
        if info.st_uid != os.getuid():
            raise UntrustedCacheFile("owned by another user")
        if info.st_mode & 0o022:
            raise UntrustedCacheFile("writable by others")
        if info.st_size > limit:
            raise UntrustedCacheFile(f"{info.st_size} bytes (at most {limit})")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UntrustedCacheFile(f"more than {limit} bytes")
    return data


def _write_atomically(path: Path, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


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
    recorded = path.with_suffix(".sha256")
    if not refresh:
        try:
            graph = read_trusted(path)
            expected = read_trusted(recorded, limit=64).decode("ascii", "replace").strip()
            if hashlib.sha256(graph).hexdigest() == expected:
                return graph
            logger.warning(
                "the cached graph %s is not the one photoqc built: building it again", path
            )
        except UntrustedCacheFile as why:
            logger.warning("the cached graph %s is not used (%s): building it again", path, why)
        except OSError:
            pass  # not built yet (or unreadable): build it
    graph = build()
    try:
        private_folder(path.parent)
        for old in (recorded, path):  # a link or FIFO in the way is replaced, never followed
            if old.is_symlink() or (old.exists() and not old.is_file()):
                old.unlink()
        _write_atomically(path, graph)
        _write_atomically(recorded, hashlib.sha256(graph).hexdigest().encode("ascii"))
    except OSError as exc:
        logger.debug("built graph %s not kept in %s: %s", name, path.parent, exc)
    return graph
