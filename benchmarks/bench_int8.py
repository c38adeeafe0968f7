"""Issue 34, point 3: NIMA's two MobileNets in int8 (ONNX Runtime static quantisation, QDQ
format), against float: speed, agreement of every output, and what it does to the
impression head on the lockbox.

Usage::

    python benchmarks/bench_int8.py [--data ../shared/data/clive-dev] [--calibration 64]

For each shipped NIMA network: the float graph photoqc runs, and the same graph quantised
by ``onnxruntime.quantization.quantize_static`` (QDQ, int8 weights per channel, uint8
activations, MinMax calibration on ``--calibration`` dev photos; never lockbox photos).
Then, on the 600 clive-dev photos:

- milliseconds a photo for both networks, passes of 8 on the machine's cores;
- agreement with float: the NIMA score (mean of the distribution, 1-10) as the largest
  and median absolute difference; the multi-level stats as the median, over the 23,808
  stats, of each one's error relative to its spread across photos, and their correlation;
- the impression head (:class:`photoqc.models.ridge.PrimalRidge` on the stats, MOS / 100, as
  training fits it) fitted on the 400 dev photos' float stats, scored on the 200 lockbox
  photos from float and from int8 stats (ROC-AUC of good = MOS >= 50, Spearman): the
  change is what int8 would cost the shipped verdict's strongest input. Issue 34's rule:
  ship int8 only when both move by less than 0.005.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_views import dev_and_lockbox
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from photoqc.images import load_image
from photoqc.models.networks import onnx_session
from photoqc.models.nima import packaged_nima_files
from photoqc.models.nima.onnx_graph import BACKBONE, mobilenet_v1_graph
from photoqc.models.nima.runners import OnnxNima
from photoqc.models.nima.spec import distribution_mean_std
from photoqc.models.nima.weights import load_nima_state
from photoqc.models.ridge import PrimalRidge

SHARED = Path(__file__).resolve().parents[2] / "shared"
PASS = 8
OUTPUTS = ["embedding", "probs", "stats"]


def quantised(graph: bytes, calibration: np.ndarray, folder: Path, name: str) -> bytes:
    """``graph`` quantised to int8 (QDQ) with MinMax ranges from ``calibration``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": calibration[i : i + 1]} for i in range(len(calibration))])

        def get_next(self):
            return next(self.batches, None)

    raw, prepared, out = (folder / f"{name}{s}.onnx" for s in ("", "_pre", "_int8"))
    raw.write_bytes(graph)
    quant_pre_process(str(raw), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    return out.read_bytes()


def run(session, batch: np.ndarray) -> dict[str, np.ndarray]:
    parts = [session.run(OUTPUTS, {"x": batch[i : i + PASS]}) for i in range(0, len(batch), PASS)]
    return {name: np.concatenate([p[k] for p in parts]) for k, name in enumerate(OUTPUTS)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "clive-dev")
    parser.add_argument("--calibration", type=int, default=64)
    args = parser.parse_args()
    if not (args.data / "labels.csv").is_file():
        print(f"{args.data}: no labels.csv (clive-dev is needed)")
        return 1
    labels = pd.read_csv(args.data / "labels.csv")
    dev, lockbox = dev_and_lockbox(labels.image)
    pixels = [load_image(args.data / name).pixels for name in labels.image]
    stats = {"float": [], "int8": []}
    scores = {"float": [], "int8": []}
    timing = {"float": 0.0, "int8": 0.0}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for path in packaged_nima_files():
            state, _ = load_nima_state(path, expected_backbone=BACKBONE)
            preprocessing = OnnxNima(path).preprocessing
            batch = preprocessing.batch(pixels)
            chosen = rng.choice(dev, args.calibration, replace=False)
            graph = mobilenet_v1_graph(state)
            graphs = {"float": graph, "int8": quantised(graph, batch[chosen], Path(tmp), path.stem)}
            for kind, model in graphs.items():
                session = onnx_session(model)
                run(session, batch[:PASS])
                start = time.perf_counter()
                out = run(session, batch)
                timing[kind] += (time.perf_counter() - start) / len(batch)
                stats[kind].append(out["stats"])
                scores[kind].append(distribution_mean_std(out["probs"])[0])
                print(f"  {path.stem} {kind}: {len(model) / 2**20:.1f} MiB", flush=True)
    joined = {kind: np.hstack(values) for kind, values in stats.items()}
    print(
        f"both networks, ms a photo (passes of {PASS}): float {1000 * timing['float']:.1f}, "
        f"int8 {1000 * timing['int8']:.1f} ({timing['float'] / timing['int8']:.2f}x)"
    )
    for k, path in enumerate(packaged_nima_files()):
        d = np.abs(scores["int8"][k] - scores["float"][k])
        print(
            f"{path.stem} score (1-10): |int8 - float| max {d.max():.3f}, median {np.median(d):.3f}"
        )
    spread = joined["float"].std(axis=0)
    kept = spread > 1e-6
    relative = np.abs(joined["int8"] - joined["float"])[:, kept] / spread[kept]
    varied = kept & (joined["int8"].std(axis=0) > 1e-6)  # int8 can flatten a stat
    correlation = [
        np.corrcoef(joined["int8"][:, j], joined["float"][:, j])[0, 1]
        for j in np.flatnonzero(varied)
    ]
    print(
        f"stats: median relative error {np.median(relative):.3f} of a stat's spread across "
        f"photos (95th percentile {np.percentile(relative, 95):.3f}); median correlation "
        f"{np.median(correlation):.4f}, 5th percentile {np.percentile(correlation, 5):.4f}; "
        f"{int((kept & ~varied).sum())} stats flat in int8"
    )
    y = labels.mos.to_numpy() / 100
    good = (labels.mos >= 50).to_numpy()
    ridge = PrimalRidge.of(np.vstack([joined["float"], joined["int8"][lockbox]]))
    fit = ridge.fit(dev, y[dev, None])
    rows = {"float": lockbox, "int8": len(labels) + np.arange(len(lockbox))}
    print("impression head (fitted on the 400 dev photos' float stats), lockbox:")
    found = {}
    for kind, index in rows.items():
        scored = ridge.predict(fit, index)[:, 0]
        found[kind] = (roc_auc_score(good[lockbox], scored), spearmanr(y[lockbox], scored)[0])
        print(f"  from {kind} stats: ROC-AUC {found[kind][0]:.4f}, SRCC {found[kind][1]:.4f}")
    moves = [abs(found["int8"][i] - found["float"][i]) for i in range(2)]
    verdict = "ship int8" if max(moves) < 0.005 else "keep float"
    print(f"moved by {moves[0]:.4f} ROC-AUC, {moves[1]:.4f} SRCC: {verdict} (rule: both < 0.005)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
