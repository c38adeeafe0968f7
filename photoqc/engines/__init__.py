"""Where batches run: one small interface (:class:`Engine`), one module per engine.

- ``local`` (:mod:`photoqc.engines.local`): this process, or a pool of worker processes on
  this machine, with dead-worker recovery.
- ``ray`` (:mod:`photoqc.engines.ray`): a Ray cluster (or a local Ray), through Ray Data
  with a pool of actors (``pip install 'photoqc[ray]'``).

Adding an engine means writing its module (a class with ``name``, ``batch_size`` and
``run``; see :class:`photoqc.engines.base.Engine`) and one entry in :data:`ENGINES`.
"""

from __future__ import annotations

import importlib

from photoqc.engines.base import Batch, BatchProcessor, Engine, Job, Row, batched

__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "Batch",
    "BatchProcessor",
    "Engine",
    "Job",
    "Row",
    "batched",
    "build_engine",
]

ENGINES: dict[str, tuple[str, str]] = {
    "local": ("photoqc.engines.local", "LocalEngine"),
    "ray": ("photoqc.engines.ray", "RayEngine"),
}
"""Engine name -> (module, class). Modules are imported only when their engine is built."""

DEFAULT_ENGINE = "local"


def build_engine(name: str = DEFAULT_ENGINE, **options: object) -> Engine:
    """The engine ``name`` built with its ``options`` (``workers`` for ``local``;
    ``address``, ``actors``, ``cpus_per_actor``, ``gpus_per_actor`` for ``ray``).

    Raises
    ------
    ValueError
        An engine photoqc does not know (the CLI offers only known names).
    """
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; known: {', '.join(ENGINES)}")
    module, cls = ENGINES[name]
    return getattr(importlib.import_module(module), cls)(**options)
