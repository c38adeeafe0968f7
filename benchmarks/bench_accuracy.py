"""How well photoqc's classifier agrees with people on real photos (clive-dev), honestly.

Usage::

    python benchmarks/bench_accuracy.py [--segmenter fastcut] [--lockbox] [--variants ...]

clive-dev holds 600 phone photos scored by people (MOS 0–100; good = MOS >= 50). A fixed
200-photo part of it is the **lockbox** (``benchmarks/results/lockbox.txt``: drawn once,
seed 2026, stratified by MOS decile): no choice (feature, setting, threshold) is made on
it. The other 400 are the **dev** photos every choice is made on.

For each variant (the shipped training recipe, and the same without NIMA, without
monotone constraints, without degraded copies...) it prints:

- 5 x 5-fold cross-validation on the dev photos (the product's own ``cross_validate``,
  degraded copies training only in the folds of their source): mean ± std over the 5
  repetitions of the out-of-fold ROC-AUC and of Spearman's correlation of p_good with MOS;
- with ``--lockbox``: the variant trained on all 400 dev photos (and their copies), scored
  on the 200 lockbox photos once: ROC-AUC and SRCC. Run it once per model change, and
  report it beside the CV numbers.

Features (and the degraded copies) are cached (``--cache-dir``), so a second run takes
seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from photoqc.assess.recipe import ExtractConfig, RecipeOptions
from photoqc.engines.local import LocalEngine
from photoqc.features.nima import READOUT_FEATURE
from photoqc.models.readout import EmbeddingReadout
from photoqc.pipelines.training.augment import AugmentConfig, augment
from photoqc.pipelines.training.cache import FeatureCache, default_cache_dir
from photoqc.pipelines.training.labels import Labels, read_labels
from photoqc.pipelines.training.train import (
    Readout,
    TrainConfig,
    cross_validate,
    defect_directions,
    extract_labelled,
    fit_classifier,
    monotone_constraints,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
RESULTS = Path(__file__).resolve().parent / "results"
LOCKBOX_FILE = RESULTS / "lockbox.txt"
LOCKBOX_SIZE = 200
LOCKBOX_SEED = 2026
REPEATS = 5
MOS_THRESHOLD = 50.0

SHIPPED = TrainConfig(augment=AugmentConfig(copies=8, kind="mixed"))
"""The recipe ``scripts/train_default.sh`` trains the built-in model with (with NIMA, and
linear MOS targets: MOS / 100)."""
BEFORE = replace(SHIPPED, monotone=False, augment=AugmentConfig(copies=0))

VARIANTS = {
    "shipped": (SHIPPED, True, "linear"),
    "no readout": (replace(SHIPPED, readout=False), True, "linear"),
    "no NIMA": (SHIPPED, False, "linear"),
    "no monotone": (replace(SHIPPED, monotone=False), True, "linear"),
    "no copies": (replace(SHIPPED, augment=AugmentConfig(copies=0)), True, "linear"),
    "kadid copies": (
        replace(SHIPPED, augment=AugmentConfig(copies=2, kind="kadid")),
        True,
        "linear",
    ),
    "kadid copies x4": (
        replace(SHIPPED, augment=AugmentConfig(copies=4, kind="kadid", weight=0.5)),
        True,
        "linear",
    ),
    "defect copies x2": (
        replace(SHIPPED, augment=AugmentConfig(copies=2)),
        True,
        "linear",
    ),
    "sigmoid targets": (SHIPPED, True, "sigmoid"),
    "before": (BEFORE, True, "sigmoid"),
    "before, no NIMA": (BEFORE, False, "sigmoid"),
}
"""name -> (training recipe, with NIMA, MOS target: linear MOS / 100 or sigmoid((MOS - 50)
/ 10)). "before" is the recipe of the last release: sigmoid targets, no monotone
constraints, no degraded copies. "no readout": without the learned impression of NIMA's
embeddings (``nima_embedding_quality``). "kadid copies": the copies drawn from KADID-10k's
25 types at levels 1–5 and labelled by their fidelity to the original (``kind="kadid"``)
instead of the 6 defects labelled by severity; "x4": four such copies a photo, each
weighing half a real photo. The shipped recipe takes eight copies a photo, the 6 defects
and the 25 types in turn (``kind="mixed"``); "defect copies x2" is the recipe before
(two copies of the 6 defects)."""

TARGETS = {"linear": 50.0, "sigmoid": 10.0}
"""MOS target -> its scale s (see :func:`photoqc.pipelines.training.labels.read_labels`)."""


def lockbox_images(labels: Labels) -> list[str]:
    """The lockbox's image names: read from :data:`LOCKBOX_FILE`, or drawn once (seeded,
    stratified by MOS decile) and written there."""
    if LOCKBOX_FILE.is_file():
        return [line for line in LOCKBOX_FILE.read_text().splitlines() if line]
    order = np.argsort(labels.mos, kind="stable")
    deciles = np.array_split(order, 10)
    rng = np.random.default_rng(LOCKBOX_SEED)
    chosen = np.concatenate([rng.choice(d, LOCKBOX_SIZE // 10, replace=False) for d in deciles])
    names = sorted(labels.images[i] for i in chosen)
    RESULTS.mkdir(exist_ok=True)
    LOCKBOX_FILE.write_text("\n".join(names) + "\n")
    return names


def subset(labels: Labels, keep: np.ndarray) -> Labels:
    index = np.flatnonzero(keep)
    return Labels(
        [labels.images[i] for i in index],
        [labels.paths[i] for i in index],
        labels.target[index],
        labels.kind,
        labels.mos[index],
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "clive-dev")
    parser.add_argument("--segmenter", default=None, help="default: the product's default")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--lockbox", action="store_true", help="also score the lockbox, once")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    if not (args.data / "labels.csv").is_file():
        print(f"needs {args.data}/labels.csv; not found")
        return 1
    parts = {}
    for target, scale in TARGETS.items():
        labels = read_labels(
            args.data / "labels.csv",
            mos_threshold=MOS_THRESHOLD,
            mos_scale=scale,
            mos_target=target,
        )
        locked = set(lockbox_images(labels))
        in_lockbox = np.array([name in locked for name in labels.images])
        parts[target] = subset(labels, ~in_lockbox), subset(labels, in_lockbox)
    dev, box = parts["linear"]
    cache = FeatureCache(args.cache_dir)
    config, _ = ExtractConfig.resolve(
        RecipeOptions(segmenter=args.segmenter or "fastcut", offline=True)
    )
    start = time.perf_counter()
    frames = {}
    for name, part in (("dev", dev), ("lockbox", box)):
        frames[name], failed, _ = extract_labelled(
            part, config, cache=cache, engine=LocalEngine(args.workers), embeddings=True
        )
        assert not failed, failed
    names = [n for n in config.feature_names() if frames["dev"][n].notna().any()]
    copies_dir = (args.cache_dir or default_cache_dir()) / "copies"

    def measure(copy_labels: Labels) -> pd.DataFrame:
        engine = LocalEngine(args.workers)
        return extract_labelled(copy_labels, config, cache=cache, engine=engine, embeddings=True)[0]

    print(
        f"clive-dev: {len(dev)} dev photos ({int(dev.is_good.sum())} good), {len(box)} in the "
        f"lockbox ({int(box.is_good.sum())} good); segmenter {config.segmenter.kind}; "
        f"features in {time.perf_counter() - start:.0f} s"
    )
    print(
        f"\n{'variant':18s} {'CV ROC-AUC (5x5, dev)':>22s} {'CV SRCC':>14s}"
        + (f" {'lockbox ROC-AUC':>16s} {'lockbox SRCC':>13s}" if args.lockbox else "")
    )
    for variant in args.variants:
        train_config, with_nima, target = VARIANTS[variant]
        dev, box = parts[target]
        columns = [n for n in names if with_nima or not n.startswith("nima_")]
        X_dev = frames["dev"][columns].astype(float).reset_index(drop=True)
        X_box = frames["lockbox"][columns].astype(float).reset_index(drop=True)
        extra = None
        if train_config.augment.copies:
            extra = augment(dev, train_config.augment, copies_dir, measure)
        models = tuple(f.name for f in config.nima) if with_nima and train_config.readout else ()
        readout = Readout.of(frames["dev"], extra, models, train_config.folds)
        if readout is not None:
            fitted = EmbeddingReadout.fit(readout.embeddings, dev.target, models)
            X_dev[READOUT_FEATURE] = readout.out_of_fold(np.arange(len(X_dev)), dev, 0)
            locked = Readout.of(frames["lockbox"], None, models, train_config.folds)
            X_box[READOUT_FEATURE] = fitted.predict(locked.embeddings)
            if extra is not None:
                extra.embeddings = readout.copies
                extra.X[READOUT_FEATURE] = fitted.predict(readout.copies)
            columns = [*columns, READOUT_FEATURE]
        if extra is not None:
            extra.X = extra.X[columns].astype(float)
        monotone = monotone_constraints(columns, config, train_config.monotone)
        defects = defect_directions(columns, config)
        aucs, srccs = [], []
        for seed in range(args.repeats):
            result = cross_validate(
                X_dev,
                dev,
                replace(train_config, seed=seed),
                monotone=monotone,
                extra=extra,
                defects=defects,
                readout=readout,
            )
            aucs.append(result.metrics["roc_auc_oof"])
            srccs.append(spearmanr(result.oof, dev.mos)[0])
        line = (
            f"{variant:18s} {np.mean(aucs):>15.3f} ± {np.std(aucs):.3f} "
            f"{np.mean(srccs):>7.3f} ± {np.std(srccs):.3f}"
        )
        if args.lockbox:
            model = fit_classifier(
                X_dev,
                dev.target,
                dev.soft,
                train_config,
                seed=0,
                monotone=monotone,
                extra=extra,
                defects=defects,
            )
            p_good = model.predict_good(X_box[columns])
            line += (
                f" {roc_auc_score(box.is_good, p_good):>16.3f}"
                f" {spearmanr(p_good, box.mos)[0]:>13.3f}"
            )
        print(line, flush=True)
    if args.lockbox:
        print(f"\nlockbox scored on {date.today().isoformat()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
