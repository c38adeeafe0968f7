"""What any learned image network needs: a protocol, its input, a runtime, a batcher, a registry.

photoqc runs learned networks beside its hand-made features (NIMA's two MobileNets today).
Each network kind lives in its own package (:mod:`photoqc.models.nima`) built on the pieces
here:

- :class:`Network`: a loaded network — its name, its :class:`Preprocessing`, a
  :meth:`~Network.forward` that returns the pooled outputs it was asked for, and
  :meth:`~Network.close`;
- :data:`RUNTIMES` and :func:`choose_runtime` (ONNX Runtime, or torch), :func:`thread_budget`
  (the threads one network may use) and :func:`onnx_session` (a CPU session built the one
  way photoqc builds them);
- :class:`Batcher`: a network (or several) on a thread of its own, gathering what
  concurrent callers send into shared forward passes;
- :data:`NETWORKS`: the registry of network kinds, by name, each naming the module that
  builds it from a weights file.

Adding a second network kind is one new module (or package) with a ``build(path,
runtime)`` function and a ``describes(path)`` test, plus one :class:`NetworkEntry` in
:mod:`photoqc.models.networks._registry`.

Nothing here imports torch.
"""

from photoqc.models.networks._batching import DEFAULT_MAX_BATCH, Batcher, ClosedError, Predictor
from photoqc.models.networks._preprocessing import Preprocessing, nearest_square
from photoqc.models.networks._protocol import Network, Outputs
from photoqc.models.networks._registry import (
    NETWORKS,
    NetworkEntry,
    build_network,
    kind_of_file,
    network_entry,
)
from photoqc.models.networks._runtime import (
    RUNTIMES,
    choose_runtime,
    onnx_session,
    onnxruntime_available,
    thread_budget,
)

__all__ = [
    "DEFAULT_MAX_BATCH",
    "NETWORKS",
    "RUNTIMES",
    "Batcher",
    "ClosedError",
    "Network",
    "NetworkEntry",
    "Outputs",
    "Predictor",
    "Preprocessing",
    "build_network",
    "choose_runtime",
    "kind_of_file",
    "nearest_square",
    "network_entry",
    "onnx_session",
    "onnxruntime_available",
    "thread_budget",
]
