"""``photoqc.check``: one photo's answer in one call, from Python.

The scorer of a model is built on the first call and kept for the next ones (building
it loads the networks: about a second); :func:`close` lets it go (also at exit)."""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path

import numpy as np

__all__ = ["check", "close"]

_lock = threading.Lock()
_scorers: dict[str, object] = {}  # model folder -> its Scorer, built once per process


def _scorer(model: str | os.PathLike[str] | None):
    from photoqc.assess.scorer import Scorer
    from photoqc.models.bundle import default_model_dir

    folder = str(Path(model).resolve()) if model else str(default_model_dir())
    with _lock:
        scorer = _scorers.get(folder)
        if scorer is None:
            scorer, _ = Scorer.from_model(folder)
            _scorers[folder] = scorer
        return scorer


def check(
    photo: str | os.PathLike[str] | bytes | np.ndarray,
    model: str | os.PathLike[str] | None = None,
    *,
    features: bool = False,
) -> dict[str, object]:
    """Whether ``photo`` may be published, and why not: the record ``POST /v1/check``
    answers (``verdict``, ``p_good`` 0–1, ``threshold``, ``reasons``, ...; with
    ``features``, every feature), or ``{"image", "error": {"code", "message"}}`` for a
    photo that cannot be read.

    Parameters
    ----------
    photo : path, bytes or ndarray
        A file, its encoded bytes, or decoded RGB pixels (H x W x 3, uint8; grayscale
        H x W is taken as grey).
    model : path, optional
        A model folder from ``photoqc train``; default the built-in model.
    """
    from photoqc.assess.answer import answer
    from photoqc.assess.items import InputItem
    from photoqc.images import LoadedImage

    scorer = _scorer(model)
    if isinstance(photo, np.ndarray):
        pixels = np.asarray(photo)
        if pixels.ndim == 2:
            pixels = np.repeat(pixels[..., None], 3, axis=2)
        if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
            raise ValueError("pixels must be H x W x 3 (or H x W) uint8")
        name = "<array>"
        decoded = LoadedImage(np.ascontiguousarray(pixels), name, "array", "RGB", pixels.nbytes)
        item = InputItem(name, decoded)
    elif isinstance(photo, bytes | bytearray | memoryview):
        item = InputItem("<bytes>", bytes(photo))
    else:
        item = InputItem(os.fspath(photo), os.fspath(photo))
    return answer(scorer, item, with_features=features)[1]


def close() -> None:
    """Let go of the scorers :func:`check` built (threads, networks)."""
    with _lock:
        scorers = list(_scorers.values())
        _scorers.clear()
    for scorer in scorers:
        scorer.close()


atexit.register(close)
