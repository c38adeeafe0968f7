"""Issue 33, point 1: does a second view of each photo (aspect kept, short side 384 px) add
to the multi-level stats the impression head reads from the 224x224 thumbnail?

Usage::

    python benchmarks/bench_second_view.py [--data ../shared/data/clive-dev] [--lockbox]

For each clive-dev photo, both shipped NIMA networks run once on the 224x224 thumbnail
(as scoring does) and once on the photo resized (area interpolation) to short side 384 with
its aspect kept; each pass gives the 13 pointwise blocks' channel means and spreads
(``stats``). Per variant (thumbnail alone, larger view alone, both joined) an impression
head is fitted as training fits it (:class:`photoqc.models.ridge.PrimalRidge`, MOS / 100,
penalty by leave-one-out): 5 x 5-fold cross-validation on the 400 dev photos (ROC-AUC of
good = MOS >= 50, Spearman with MOS), and with ``--lockbox`` the head fitted on all 400,
scored once on the 200 lockbox photos. It also times both networks on each view (the
cost a second view would add to every photo scored). Stats are cached in ``--cache``.
The impression head alone: the shipped verdict adds its defect head and trees on top.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from bench_views import dev_and_lockbox
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from photoqc.images import load_image
from photoqc.models.nima import NimaPredictor, packaged_nima_files
from photoqc.models.ridge import PrimalRidge

SHARED = Path(__file__).resolve().parents[2] / "shared"
SHORT_SIDE = 384


def larger_view(pixels: np.ndarray, short_side: int = SHORT_SIDE) -> np.ndarray:
    """``pixels`` resized so that its short side is ``short_side``, aspect kept."""
    h, w = pixels.shape[:2]
    scale = short_side / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(pixels, size, interpolation=interpolation)


def view_stats(data: Path, images: pd.Series, cache: Path) -> dict[str, np.ndarray]:
    """``{"thumb": (n, d), "large": (n, d)}``: both networks' stats joined in the
    predictor's order, and ``seconds`` (n, 2): each view's time for both networks."""
    if cache.is_file():
        return dict(np.load(cache))
    thumb, large, seconds = [], [], []
    with NimaPredictor(packaged_nima_files(), stats=True) as predictor:
        names = predictor.names
        start = time.perf_counter()
        for k, name in enumerate(images):
            pixels = load_image(data / name).pixels
            t0 = time.perf_counter()
            out = predictor.outputs([pixels])[0]
            t1 = time.perf_counter()
            thumb.append(np.concatenate([out.stats[m] for m in names]))
            view = larger_view(pixels)
            joined = []
            for m in names:
                network = predictor.models[m]
                x = network.preprocessing.to_array(view)
                joined.append(network.forward(x, ("stats",))["stats"][0])
            t2 = time.perf_counter()
            large.append(np.concatenate(joined))
            seconds.append((t1 - t0, t2 - t1))
            if k % 100 == 99:
                print(f"  {k + 1} photos, {time.perf_counter() - start:.0f} s", flush=True)
    saved = {"thumb": np.array(thumb), "large": np.array(large), "seconds": np.array(seconds)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **saved)
    return saved


def _fit_predict(ridge: PrimalRidge, train: np.ndarray, test: np.ndarray, y: np.ndarray):
    return ridge.predict(ridge.fit(train, y[train, None]), test)[:, 0]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "clive-dev")
    parser.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "photoqc" / "second_view.npz"
    )
    parser.add_argument("--lockbox", action="store_true", help="also score the lockbox, once")
    parser.add_argument("--repeats", type=int, default=5, help="CV repeats (default 5)")
    args = parser.parse_args()
    if not (args.data / "labels.csv").is_file():
        print(f"{args.data}: no labels.csv (clive-dev is needed)")
        return 1
    labels = pd.read_csv(args.data / "labels.csv")
    saved = view_stats(args.data, labels.image, args.cache)
    seconds = saved["seconds"]
    print(
        f"both networks per photo (median, 1 photo a pass): thumbnail 224x224 "
        f"{1000 * np.median(seconds[:, 0]):.0f} ms, short side {SHORT_SIDE} "
        f"{1000 * np.median(seconds[:, 1]):.0f} ms"
    )
    y = labels.mos.to_numpy() / 100
    good = (labels.mos >= 50).to_numpy()
    dev, lockbox = dev_and_lockbox(labels.image)
    variants = {
        "thumbnail 224 (shipped)": saved["thumb"],
        f"short side {SHORT_SIDE} alone": saved["large"],
        f"thumbnail + short side {SHORT_SIDE}": np.hstack([saved["thumb"], saved["large"]]),
    }
    header = f"{'impression head on':34s} {'width':>6s} {'CV ROC-AUC':>14s} {'CV SRCC':>8s}"
    print(header + (f" {'lockbox AUC':>11s} {'SRCC':>6s}" if args.lockbox else ""))
    for name, X in variants.items():
        ridge = PrimalRidge.of(X)
        aucs, srccs = [], []
        for repeat in range(args.repeats):
            out_of_fold = np.zeros(len(dev))
            splitter = StratifiedKFold(5, shuffle=True, random_state=repeat)
            for train, test in splitter.split(dev, good[dev]):
                out_of_fold[test] = _fit_predict(ridge, dev[train], dev[test], y)
            aucs.append(roc_auc_score(good[dev], out_of_fold))
            srccs.append(spearmanr(y[dev], out_of_fold)[0])
        line = (
            f"{name:34s} {X.shape[1]:6d} {np.mean(aucs):.3f} ± {np.std(aucs):.3f}"
            f" {np.mean(srccs):8.3f}"
        )
        if args.lockbox:
            scored = _fit_predict(ridge, dev, lockbox, y)
            auc, srcc = roc_auc_score(good[lockbox], scored), spearmanr(y[lockbox], scored)[0]
            line += f" {auc:11.3f} {srcc:6.3f}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
