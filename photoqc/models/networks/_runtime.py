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
    (a spinning pool between batches takes a core from the features), and which hands
    each run's buffers back rather than keeping them in an arena."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or thread_budget()
    options.inter_op_num_threads = 1
    # ONNX Runtime's arena keeps the largest batch's buffers for the session's life: with
    # the multi-level stats outputs, about 1.4 GB per pair of NIMA sessions after one batch
    # of 32 (a host scoring 63 photos held 3.9 GB; 1.0 GB without it), and no faster
    # (16.1 vs 16.7 photos/s, 2026-12-04).
    options.enable_cpu_mem_arena = False
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
