"""NIMA: inference speed (PyTorch against the TFLite interpreter) and agreement with people.

Usage::

    python benchmarks/bench_nima.py [--weights DIR] [--photos DIR] [--threads T]

Imports idealo's two ``.tflite`` models from ``--weights`` (default
``../shared/weights/nima``), then prints:

- images per second of NIMA inference in PyTorch at batch 1 and 16, and of the TFLite
  interpreter (``ai-edge-litert``, one image per call) on the same preprocessed images
  (network only: decoding and resizing are excluded, the same for both);
- the Spearman rank correlation (SRCC) between each imported model's mean score and the
  human MOS of the clive-dev photos, computed with PyTorch and with TFLite.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from photoqc.images import load_image
from photoqc.models.nima.importer import state_from_tflite
from photoqc.models.nima.network import NIMA
from photoqc.models.nima.spec import distribution_mean_std

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _rate(fn, n_images: int, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n_images / best


def _tflite_run(interpreter, batch: np.ndarray) -> np.ndarray:
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    result = []
    for item in batch:
        interpreter.set_tensor(inp["index"], item[None])
        interpreter.invoke()
        result.append(interpreter.get_tensor(out["index"])[0].copy())
    return np.array(result)


def _torch_run(model: NIMA, batch: torch.Tensor, size: int) -> np.ndarray:
    with torch.inference_mode():
        return torch.cat([model(batch[i : i + size]) for i in range(0, len(batch), size)]).numpy()


def bench_model(name: str, path: Path, photos: list, mos: np.ndarray, n: int, threads: int) -> None:
    """Print speed and SRCC rows for one imported model."""
    from ai_edge_litert.interpreter import Interpreter

    model = NIMA("mobilenet_v1").eval()
    model.load_state_dict(state_from_tflite(path.read_bytes()))
    x_all = model.preprocessing(photos)
    interpreter = Interpreter(model_path=str(path), num_threads=threads or None)
    interpreter.allocate_tensors()
    nhwc = x_all.permute(0, 2, 3, 1).numpy().astype(np.float32)
    speed = {
        "pytorch batch 1": _rate(lambda: _torch_run(model, x_all[:n], 1), n),
        "pytorch batch 16": _rate(lambda: _torch_run(model, x_all[:n], 16), n),
        "tflite interpreter": _rate(lambda: _tflite_run(interpreter, nhwc[:n]), n),
    }
    ours = distribution_mean_std(_torch_run(model, x_all, 16))[0]
    theirs = distribution_mean_std(_tflite_run(interpreter, nhwc))[0]
    srcc = {"pytorch": spearmanr(ours, mos)[0], "tflite": spearmanr(theirs, mos)[0]}
    for engine, rate in speed.items():
        which = "tflite" if engine.startswith("tflite") else "pytorch"
        print(f"{name:10s} {engine:26s} {rate:8.1f}   {srcc[which]:11.3f}")
    print(
        f"{name:10s} max |mean difference| pytorch vs tflite over {len(photos)} photos: "
        f"{np.abs(ours - theirs).max():.3f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weights", type=Path, default=SHARED / "weights" / "nima")
    parser.add_argument("--photos", type=Path, default=SHARED / "data" / "clive-dev")
    parser.add_argument("--threads", type=int, default=0, help="torch/TFLite threads (0: default)")
    parser.add_argument("--speed-images", type=int, default=32)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    weights_ok = (args.weights / "technical_model.tflite").is_file()
    if not weights_ok or not (args.photos / "labels.csv").is_file():
        print(f"needs {args.weights}/*.tflite and {args.photos}/labels.csv; not found")
        return 1
    labels = pd.read_csv(args.photos / "labels.csv")
    print(f"decoding {len(labels)} clive-dev photos ...")
    photos = [load_image(args.photos / p).pixels for p in labels["image"]]
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"{'model':10s} {'engine':26s} {'img/s':>8s}   {'SRCC vs MOS':>11s}")
    for name in ("technical", "aesthetic"):
        path = args.weights / f"{name}_model.tflite"
        bench_model(name, path, photos, labels["mos"].to_numpy(), args.speed_images, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
