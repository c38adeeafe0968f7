"""A NIMA network loaded from its weights file, as a :class:`~photoqc.models.networks.Network`:
on ONNX Runtime (MobileNet v1: faster, no torch) or on torch (any backbone).

Random weights are never used: a network is only ever built from a weights file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from pathlib import Path

import numpy as np

from photoqc.models.networks import ClosedError, Outputs, Preprocessing, choose_runtime
from photoqc.models.networks import onnx_session as _onnx_session

logger = logging.getLogger(__name__)

KIND = "nima"
OUTPUTS = ("embedding", "probs", "stats")
"""What a NIMA network's forward pass can give: the pooled embedding its head reads
(N, width; 1,024 for MobileNet v1), the score distribution (N, 10) and, for MobileNet v1,
each pointwise block's per-channel mean and spread over the frame (N, 11,904; see
:func:`photoqc.models.nima.onnx_graph.mobilenet_v1_graph`)."""


class _Runner:
    """What both runtimes share: the weights' description, the outputs, closing."""

    kind = KIND
    outputs = OUTPUTS
    runtime = ""

    def __init__(self, meta: dict, preprocessing: Preprocessing):
        self.meta = meta
        self.name = str(meta["name"])
        self.preprocessing = preprocessing
        self._closed = False

    def _check(self, wanted: Collection[str]) -> None:
        if self._closed:
            raise ClosedError(f"NIMA {self.name}: the network was closed")
        unknown = set(wanted) - set(self.outputs)
        if unknown:
            raise ValueError(f"NIMA gives {', '.join(self.outputs)}, not {', '.join(unknown)}")

    def close(self) -> None:
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(embedding, probs)`` of a batch (the two outputs every caller uses)."""
        out = self.forward(batch, ("embedding", "probs"))
        return out["embedding"], out["probs"]


class OnnxNima(_Runner):
    """A NIMA MobileNet v1 from a weights file, run by ONNX Runtime.

    Parameters
    ----------
    path : path
        A NIMA weights file (``.safetensors``; ``.pt`` needs torch to read) whose
        backbone is ``mobilenet_v1``.
    threads : int, optional
        ONNX Runtime's intra-op threads (default:
        :func:`photoqc.models.networks.thread_budget`).

    Raises
    ------
    NimaWeightsError
        When the file cannot be read or is not a NIMA MobileNet v1.
    """

    runtime = "onnx"

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None):
        from photoqc.models.nima.onnx_graph import BACKBONE, check_state
        from photoqc.models.nima.weights import NimaWeightsError, load_nima_state

        state, meta = load_nima_state(path, expected_backbone=BACKBONE)
        check_state(state, str(path))
        super().__init__(meta, Preprocessing(**meta.get("preprocessing", {})))
        if self.preprocessing.size != 224:
            raise NimaWeightsError(f"{path}: MobileNet v1 here takes 224x224 input")
        self.session = _cached_session(path, state, threads)

    def forward(
        self, batch: np.ndarray, wanted: Collection[str] = ("embedding", "probs")
    ) -> Outputs:
        """The ``wanted`` outputs of a float32 (N, 3, H, W) batch (224 x 224 for NIMA's
        scores)."""
        self._check(wanted)
        names = [n for n in OUTPUTS if n in wanted]
        return dict(zip(names, self.session.run(names, {"x": batch}), strict=True))

    def close(self) -> None:
        """Release the ONNX Runtime session (its memory and threads)."""
        super().close()
        self.session = None


class TorchNima(_Runner):
    """A NIMA network run by torch (any backbone)."""

    runtime = "torch"

    def __init__(self, path: str | os.PathLike[str]):
        from photoqc.models.nima.network import for_inference
        from photoqc.models.nima.weights import load_nima

        model, meta = load_nima(path)
        super().__init__(meta, model.preprocessing)
        self.model = for_inference(model)

    def forward(
        self, batch: np.ndarray, wanted: Collection[str] = ("embedding", "probs")
    ) -> Outputs:
        """The ``wanted`` outputs of a float32 (N, 3, S, S) batch (``stats`` only for a
        MobileNet v1)."""
        import torch

        self._check(wanted)
        backbone = self.model.backbone
        with torch.inference_mode():
            x = torch.from_numpy(batch).contiguous(memory_format=torch.channels_last)
            if "stats" in wanted:
                if not hasattr(backbone, "pooled_and_stats"):
                    raise ValueError(f"NIMA {self.name}: stats come from MobileNet v1 only")
                pooled, stats = backbone.pooled_and_stats(x, stats=True)
            else:
                pooled, stats = backbone(x), None
            out = {"embedding": pooled.numpy()}
            if "probs" in wanted:
                out["probs"] = torch.softmax(self.model.head(pooled), dim=-1).numpy()
            if stats is not None:
                out["stats"] = stats.numpy()
        return {k: v for k, v in out.items() if k in wanted}

    def close(self) -> None:
        """Let go of the torch module."""
        super().close()
        self.model = None


def _cached_session(path: str | os.PathLike[str], state: dict, threads: int | None):
    """An ONNX Runtime session of the graph built from ``state`` (the weights file at
    ``path``), read from the graph cache when it was built before
    (:mod:`photoqc.models.networks._graph_cache`: no ``onnx`` import at start-up); a
    cached file ONNX Runtime cannot read is built again."""
    from photoqc.hashing import sha256_of
    from photoqc.models.networks._graph_cache import cached_graph, graph_key
    from photoqc.models.nima import onnx_graph

    key = graph_key([sha256_of(path).encode(), Path(onnx_graph.__file__).read_bytes()])

    def build() -> bytes:
        return onnx_graph.mobilenet_v1_graph(state)

    try:
        return _onnx_session(cached_graph("nima_mobilenet_v1", key, build), threads)
    except Exception as exc:  # a damaged cache file: ONNX Runtime's own error types
        if type(exc).__module__.split(".")[0] != "onnxruntime":
            raise
        logger.warning("%s: the cached graph could not be read (%s); building it again", path, exc)
        return _onnx_session(cached_graph("nima_mobilenet_v1", key, build, refresh=True), threads)


def describes(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` describes itself as photoqc NIMA weights (JSON or header)."""
    from photoqc.models.nima.weights import is_nima_file

    return is_nima_file(path)


def check_usable(path: str | os.PathLike[str]) -> None:
    """Refuse (:class:`~photoqc.models.nima.weights.NimaWeightsError`) a weights file that
    would not build a network, without building one where that is cheap: a MobileNet v1's
    tensors are checked as arrays; another backbone's are loaded into torch."""
    from photoqc.models.nima.onnx_graph import BACKBONE, check_state
    from photoqc.models.nima.weights import load_nima, load_nima_state

    state, meta = load_nima_state(path)
    if meta["backbone"] == BACKBONE:
        check_state(state, str(path))
    else:
        load_nima(path)


def build(path: str | os.PathLike[str], runtime: str = "auto") -> OnnxNima | TorchNima:
    """The network of a NIMA weights file, on ``runtime`` (``auto``: ONNX Runtime for
    MobileNet v1 where it is installed, torch for the rest)."""
    from photoqc.models.nima.onnx_graph import BACKBONE
    from photoqc.models.nima.weights import read_nima_meta

    backbone = read_nima_meta(path).get("backbone")
    used = choose_runtime(runtime, onnx_possible=backbone == BACKBONE)
    network = OnnxNima(path) if used == "onnx" else TorchNima(path)
    logger.info("NIMA %s ready (%s on %s, %s)", network.name, backbone, used, Path(path).name)
    return network
