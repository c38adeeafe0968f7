"""Where networks run: ONNX Runtime (the scoring path, no torch) or torch, and on how many
threads."""

from __future__ import annotations

from photoqc.choices import choose

RUNTIMES = ("auto", "onnx", "torch")
"""``auto``: ONNX Runtime where the network kind has an ONNX graph and it is installed,
torch for the rest."""


def choose_runtime(runtime: str, onnx_possible: bool) -> str:
    """``onnx`` or ``torch`` for a network that ``onnx_possible`` can run on ONNX Runtime;
    ``auto`` takes ONNX Runtime when it can. ValueError for an unknown name."""
    runtime = choose({r: r for r in RUNTIMES}, runtime, "network runtime")
    if runtime == "auto":
        return "onnx" if onnx_possible and onnxruntime_available() else "torch"
    return runtime


def onnxruntime_available() -> bool:
    """Whether ONNX Runtime (and the ``onnx`` package that writes graphs) import."""
    from photoqc.compat import has_module

    return has_module("onnx") and has_module("onnxruntime")


def thread_budget() -> int:
    """Threads this process may use for one network: what OpenCV was told
    (:func:`photoqc.engines.local.set_thread_count` sets both), at least 1."""
    import cv2

    return max(1, cv2.getNumThreads())


def onnx_session(model: bytes, threads: int | None = None):
    """An ONNX Runtime CPU session of a serialised ``model``, on ``threads`` intra-op
    threads (default :func:`thread_budget`), whose idle threads sleep rather than spin
    (a spinning pool between batches takes a core from the features).

    The session's arena keeps the largest run's buffers for its life (without it, each run
    maps and faults fresh pages: a pass of 16 took 1.6x as long): callers keep their runs
    small (:data:`photoqc.models.nima.predictor.MAX_PASS`)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or thread_budget()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
