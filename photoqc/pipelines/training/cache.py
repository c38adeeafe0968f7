"""A cache of feature rows, so retraining does not recompute features.

Rows are keyed by the SHA-256 of the image file's bytes *and* the extraction recipe's
fingerprint (:meth:`photoqc.assess.recipe.ExtractConfig.fingerprint`: segmenter, its
settings and weights, NIMA weight files' hashes, analysis scale, photoqc version, feature
names), so a changed photo or a changed setting never returns a stale row. Only successful
rows are kept. The networks' multi-level stats (about 24,000 numbers a photo, per-channel
means and spreads of ReLU6 activations, so 0–6) are kept beside the rows as float16 arrays,
deflated (``.npz`` bytes, read without unpickling): about 35 KB a photo where float32 took
96 KB; float16 keeps 3 significant digits, far below what the heads' ridge resolves.
Training reads the stats as stored (:func:`compact_stats` rounds fresh ones alike), so a
model does not depend on whether its photos came from the cache. :meth:`FeatureCache.iter_stats`
reads a large cache back in one pass, a chunk of keys at a time. The cache is one SQLite
file (``features.sqlite``) in ``--cache-dir`` (default ``$PHOTOQC_CACHE_DIR`` or
``~/.cache/photoqc``).
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np

from photoqc.cache_dir import default_cache_dir, private_folder
from photoqc.hashing import sha256_of

CACHE_FILE = "features.sqlite"
STATS_DTYPE = np.float16
"""How the networks' stats are kept (and what training reads)."""


def compact_stats(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Stats as the cache keeps them: float16 (a value float16 cannot hold stays float32)."""
    out = {}
    for name, values in arrays.items():
        values = np.asarray(values)
        small = values.astype(STATS_DTYPE, copy=False)
        out[name] = small if np.array_equal(np.isfinite(small), np.isfinite(values)) else values
    return out


def _unpacked(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


def file_sha256(path: str | os.PathLike[str]) -> str | None:
    """SHA-256 of a file's bytes; None when it cannot be read."""
    try:
        return sha256_of(path)
    except OSError:
        return None


class FeatureCache:
    """Feature rows by (file content hash, configuration fingerprint)."""

    def __init__(self, folder: str | os.PathLike[str] | None = None):
        self.folder = Path(folder) if folder else default_cache_dir()
        private_folder(self.folder)
        self.path = self.folder / CACHE_FILE
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, row TEXT NOT NULL)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS stats (key TEXT PRIMARY KEY, data BLOB NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def _select(self, table: str, column: str, keys: Iterable[str]) -> list[tuple[str, object]]:
        """``(key, column)`` of ``table`` for whichever of ``keys`` are present, asked 500
        at a time (SQLite's limit on bound parameters)."""
        keys = list(keys)
        found: list[tuple[str, object]] = []
        with self._connect() as db:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found += db.execute(
                    f"SELECT key, {column} FROM {table} WHERE key IN ({marks})", chunk
                ).fetchall()
        return found

    @staticmethod
    def key(content_hash: str, fingerprint: str) -> str:
        return f"{fingerprint}:{content_hash}"

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, object]]:
        """Cached rows for whichever of ``keys`` are present."""
        return {key: json.loads(row) for key, row in self._select("rows", "row", keys)}

    def put_many(self, rows: dict[str, dict[str, object]]) -> None:
        """Store rows (NaN kept; json writes it as NaN)."""
        with self._connect() as db:
            db.executemany(
                "INSERT OR REPLACE INTO rows (key, row) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in rows.items()],
            )

    def get_stats(self, keys: Iterable[str]) -> dict[str, dict[str, np.ndarray]]:
        """Cached multi-level stats (``{model name: float16 array}``, float32 for a file an
        older photoqc wrote) for whichever of ``keys`` are present."""
        return {key: _unpacked(data) for key, data in self._select("stats", "data", keys)}

    def iter_stats(
        self, keys: Iterable[str], chunk: int = 500
    ) -> Iterator[tuple[str, dict[str, np.ndarray] | None]]:
        """``(key, stats or None)`` for every key, in order, reading ``chunk`` keys at a
        time: one pass over a cache of any size, holding one chunk of raw bytes."""
        keys = iter(keys)
        while True:
            part = [k for _, k in zip(range(chunk), keys, strict=False)]
            if not part:
                return
            found = dict(self._select("stats", "data", part))
            for key in part:
                data = found.pop(key, None)
                yield key, (_unpacked(data) if data is not None else None)

    def put_stats(self, stats: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """Store each key's stats (:func:`compact_stats`, deflated)."""

        def packed(arrays: Mapping[str, np.ndarray]) -> bytes:
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **compact_stats(arrays))
            return buffer.getvalue()

        with self._connect() as db:
            db.executemany(
                "INSERT OR REPLACE INTO stats (key, data) VALUES (?, ?)",
                [(k, packed(v)) for k, v in stats.items()],
            )
