"""Issue 22, point 7: does NIMA see more from several views of a photo than from the whole
frame alone? A ridge read-out of MOS from NIMA's embeddings, per set of views.

Usage::

    python benchmarks/bench_views.py [--data ../shared/data/clive-dev] [--lockbox]

For each clive-dev photo, both shipped NIMA networks embed the whole frame (resized to
224x224, as scoring does today) and nine 224x224 crops at native resolution (a 3x3 grid:
corners, edge middles, centre). Each variant joins the whole-frame embedding with some
crops' (their mean, or one crop) and fits :class:`photoqc.models.readout.EmbeddingReadout`
(standardise + RidgeCV) to MOS / 100: 5 x 5-fold cross-validation on the 400 dev photos
(ROC-AUC of good = MOS >= 50, Spearman with MOS), and with ``--lockbox`` the read-out
fitted on all dev photos, scored once on the 200 lockbox photos. Embeddings are cached in
``--cache`` (90 s to compute on 2 cores). Read-out alone: the shipped model adds its
GBDT over the classic features on top.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold

from photoqc.images import load_image
from photoqc.models.nima import NimaPredictor, packaged_nima_files
from photoqc.models.readout import EmbeddingReadout

SHARED = Path(__file__).resolve().parents[2] / "shared"
LOCKBOX = Path(__file__).resolve().parent / "results" / "lockbox.txt"


def dev_and_lockbox(images: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the dev photos and of the lockbox's (``results/lockbox.txt``) among
    ``images``, clive-dev's ``labels.csv`` names."""
    in_lockbox = images.isin(set(LOCKBOX.read_text().split())).to_numpy()
    return np.flatnonzero(~in_lockbox), np.flatnonzero(in_lockbox)


CROP = 224
GRID = 3
CORNERS, CENTRE = [0, 2, 6, 8], 4


def embeddings(data: Path, images: pd.Series, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """(whole frame (n, 2048), the 3x3 grid of native crops (n, 9, 2048)), both networks'
    embeddings joined in the predictor's order."""
    if cache.is_file():
        saved = np.load(cache)
        return saved["whole"], saved["crops"]
    predictor = NimaPredictor(packaged_nima_files())
    whole, crops, start = [], [], time.perf_counter()
    for k, name in enumerate(images):
        pixels = load_image(data / name).pixels
        h, w = pixels.shape[:2]
        ys = np.linspace(0, max(0, h - CROP), GRID).astype(int)
        xs = np.linspace(0, max(0, w - CROP), GRID).astype(int)
        views = [pixels[y : y + CROP, x : x + CROP] for y in ys for x in xs]
        embedded = predictor.outputs([pixels, *views])
        joined = [np.concatenate([e.embeddings[m] for m in predictor.names]) for e in embedded]
        whole.append(joined[0])
        crops.append(np.stack(joined[1:]))
        if k % 100 == 99:
            print(f"  {k + 1} photos embedded, {time.perf_counter() - start:.0f} s", flush=True)
    whole_array, crops_array = np.array(whole), np.array(crops)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, whole=whole_array, crops=crops_array)
    return whole_array, crops_array


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "clive-dev")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/photoqc-bench-views.npz"))
    parser.add_argument("--lockbox", action="store_true", help="also score the lockbox, once")
    args = parser.parse_args()
    if not (args.data / "labels.csv").is_file():
        print(f"{args.data}: no labels.csv (clive-dev is needed)")
        return 1
    labels = pd.read_csv(args.data / "labels.csv")
    whole, crops = embeddings(args.data, labels.image, args.cache)
    mos = labels.mos.to_numpy() / 100
    good = (labels.mos >= 50).to_numpy()
    dev, lockbox = dev_and_lockbox(labels.image)
    variants = {
        "whole frame (today)": whole,
        "whole + centre crop": np.hstack([whole, crops[:, CENTRE]]),
        "whole + 4 corner crops (mean)": np.hstack([whole, crops[:, CORNERS].mean(1)]),
        "whole + 9 crops (mean)": np.hstack([whole, crops.mean(1)]),
        "whole + 9 crops (mean, std)": np.hstack([whole, crops.mean(1), crops.std(1)]),
    }
    print(f"{'variant':32s} {'views':>5s} {'CV ROC-AUC':>14s} {'CV SRCC':>8s}", end="")
    print(f" {'lockbox AUC':>11s} {'SRCC':>6s}" if args.lockbox else "")
    views = {"whole frame (today)": 1, "whole + centre crop": 2}
    for name, E in variants.items():
        aucs, srccs = [], []
        for repeat in range(5):
            out_of_fold = np.zeros(len(dev))
            for train, test in KFold(5, shuffle=True, random_state=repeat).split(dev):
                readout = EmbeddingReadout.fit(E[dev[train]], mos[dev[train]], ("nima",))
                out_of_fold[test] = readout.predict(E[dev[test]])
            aucs.append(roc_auc_score(good[dev], out_of_fold))
            srccs.append(spearmanr(mos[dev], out_of_fold)[0])
        count = views.get(name, 5 if "4 corner" in name else 10)
        line = (
            f"{name:32s} {count:5d} {np.mean(aucs):.3f} ± {np.std(aucs):.3f} {np.mean(srccs):8.3f}"
        )
        if args.lockbox:
            readout = EmbeddingReadout.fit(E[dev], mos[dev], ("nima",))
            scored = readout.predict(E[lockbox])
            auc, srcc = roc_auc_score(good[lockbox], scored), spearmanr(mos[lockbox], scored)[0]
            line += f" {auc:11.3f} {srcc:6.3f}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
