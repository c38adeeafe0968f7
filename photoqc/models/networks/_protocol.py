"""The :class:`Network` protocol: what photoqc asks of a loaded image network."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from photoqc.models.networks._preprocessing import Preprocessing

Outputs = dict[str, np.ndarray]
"""A forward pass's answer: output name -> array whose first axis is the batch."""


@runtime_checkable
class Network(Protocol):
    """A network loaded from a weights file, ready to run on a batch.

    Attributes
    ----------
    name : str
        Its model name (``technical``); it names the feature columns it feeds.
    kind : str
        Its kind in :data:`photoqc.models.networks.NETWORKS` (``nima``).
    preprocessing : Preprocessing
        How a photo becomes its input.
    outputs : tuple of str
        The pooled outputs :meth:`forward` can give (``embedding``, ``probs``...).
    runtime : str
        ``onnx`` or ``torch``: what runs it.
    meta : dict
        The weights' own description.
    """

    name: str
    kind: str
    preprocessing: Preprocessing
    outputs: tuple[str, ...]
    runtime: str
    meta: dict

    def forward(self, batch: np.ndarray, wanted: Collection[str]) -> Outputs:
        """The ``wanted`` outputs (a subset of :attr:`outputs`) of a float32
        (N, 3, H, W) batch made by :meth:`Preprocessing.batch`."""
        ...

    def close(self) -> None:
        """Let go of the runtime's session or module (idempotent); a closed network
        refuses to run."""
        ...
