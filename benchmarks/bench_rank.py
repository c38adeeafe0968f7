"""How often ``photoqc rank`` picks the photo people like best as a listing's cover.

Usage::

    python benchmarks/bench_rank.py [--groups 200] [--size 6] [--seed 0]

Honest by construction: a model is trained the way the default model is (``photoqc
train`` on MOS labels, degraded copies, the learned impression) but on the 400 clive-dev
photos outside the lockbox only (``benchmarks/results/lockbox.txt``); it then scores the
200 lockbox photos, which are dealt into ``--groups`` random listings of ``--size`` photos
(fixed seed; a photo may be in several listings, never twice in one). For each listing
``photoqc rank``'s rules choose the cover, and the benchmark counts how often it is the
highest-MOS photo of its listing, and how often it is among its two highest-MOS photos.
A random choice gets these right 1/size and 2/size of the time (17 % and 33 % for 6).

Prints ``ratio ...`` lines (hits over random), and, beside them, what ranking by p_good
alone and by NIMA's aesthetic score alone would get. The cover score's weights were chosen
on the dev photos (see :func:`photoqc.assess.covers.cover_score`), never here.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from photoqc.assess.covers import rank_groups
from photoqc.assess.items import InputItem
from photoqc.assess.recipe import ExtractConfig, RecipeOptions
from photoqc.assess.scorer import Scorer
from photoqc.engines.local import LocalEngine
from photoqc.pipelines.batch.score import score_to_csv
from photoqc.pipelines.training.augment import AugmentConfig
from photoqc.pipelines.training.cache import FeatureCache
from photoqc.pipelines.training.labels import read_labels
from photoqc.pipelines.training.train import TrainConfig, train

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared"
LOCKBOX_FILE = HERE / "results" / "lockbox.txt"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "clive-dev")
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--size", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    labels_csv = args.data / "labels.csv"
    if not labels_csv.is_file() or not LOCKBOX_FILE.is_file():
        print(f"needs {labels_csv} and {LOCKBOX_FILE}; not found")
        return 1
    table = pd.read_csv(labels_csv)
    locked = set(LOCKBOX_FILE.read_text().split())
    in_box = table["image"].isin(locked)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dev_csv = tmp / "dev.csv"
        table[~in_box].assign(image=[str(args.data / i) for i in table[~in_box]["image"]]).to_csv(
            dev_csv, index=False
        )
        labels = read_labels(dev_csv, mos_threshold=50, mos_scale=50, mos_target="linear")
        config, _ = ExtractConfig.resolve(RecipeOptions(segmenter="fastcut", offline=True))
        model_dir = tmp / "model"
        train(
            labels,
            config,
            model_dir,
            TrainConfig(folds=5, seed=0, augment=AugmentConfig(copies=2)),
            cache=FeatureCache(None),
            engine=LocalEngine(args.workers),
        )
        scorer, _ = Scorer.from_model(model_dir, RecipeOptions(offline=True))
        box = table[in_box].reset_index(drop=True)
        items = [InputItem(name, str(args.data / name)) for name in box["image"]]
        scores_csv = tmp / "lockbox_scores.csv"
        score_to_csv(items, scorer, scores_csv, engine=LocalEngine(args.workers))
        scores = pd.read_csv(scores_csv, keep_default_na=False, dtype={"phash": str})
    seconds = time.perf_counter() - start
    scores = scores.copy()
    scores["mos"] = box.set_index("image").loc[scores["image"], "mos"].to_numpy()
    rng = np.random.default_rng(args.seed)
    listings = []
    for g in range(args.groups):
        chosen = rng.choice(len(scores), size=args.size, replace=False)
        listings.append(scores.iloc[chosen].assign(listing=f"L{g:03d}"))
    frame = pd.concat(listings, ignore_index=True)
    ranked, summary = rank_groups(frame, "listing")
    covers = ranked[ranked["rank"] == 1].set_index("listing")["image"]
    hits = {rule: [0, 0] for rule in ("photoqc rank", "p_good alone", "NIMA aesthetic alone")}
    for name, listing in frame.groupby("listing"):
        by_mos = list(listing.sort_values("mos", ascending=False)["image"])
        picks = {
            "photoqc rank": covers[name],
            "p_good alone": listing.loc[pd.to_numeric(listing["p_good"]).idxmax(), "image"],
            "NIMA aesthetic alone": listing.loc[
                pd.to_numeric(listing["nima_aesthetic_mean"]).idxmax(), "image"
            ],
        }
        for rule, pick in picks.items():
            hits[rule][0] += pick == by_mos[0]
            hits[rule][1] += pick in by_mos[:2]
    n = args.groups
    random_top1, random_top2 = 1 / args.size, 2 / args.size
    print(
        f"{n} listings of {args.size} lockbox photos (seed {args.seed}); model trained on the "
        f"{int((~in_box).sum())} dev photos outside the lockbox; {summary.duplicates} "
        f"near-duplicates flagged, {len(summary.unpublishable)} listings with no publishable "
        f"photo; {seconds:.0f} s ({date.today().isoformat()})"
    )
    print(f"{'rule':22s} {'cover = best MOS':>17s} {'cover in top two':>17s}")
    for rule, (top1, top2) in hits.items():
        print(f"{rule:22s} {top1 / n:>17.1%} {top2 / n:>17.1%}")
    print(f"{'random choice':22s} {random_top1:>17.1%} {random_top2:>17.1%}")
    top1, top2 = hits["photoqc rank"]
    print(f"ratio cover_is_best_over_random {top1 / n / random_top1:.2f}")
    print(f"ratio cover_in_top_two_over_random {top2 / n / random_top2:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
