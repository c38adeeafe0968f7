"""How well photoqc's classifier agrees with people on real photos (clive-dev), honestly,
and how well it catches synthetic damage it never saw the photos of.

Usage::

    python benchmarks/bench_accuracy.py [--segmenter fastcut] [--lockbox] [--variants ...]

clive-dev holds 600 phone photos scored by people (MOS 0–100; good = MOS >= 50). A fixed
200-photo part of it is the **lockbox** (``benchmarks/results/lockbox.txt``: drawn once,
seed 2026, stratified by MOS decile): no choice (feature, setting, threshold) is made on
it. The other 400 are the **dev** photos every choice is made on.

For each variant (the shipped training recipe, and the same without NIMA, without the
network heads...) it prints:

- ``--repeats`` x 5-fold cross-validation on the dev photos (the product's own
  ``cross_validate``: degraded copies train only in the folds of their source, learned
  features are made again inside each fold): mean ± std of the out-of-fold ROC-AUC and of
  Spearman's correlation of p_good with MOS;
- with ``--lockbox``, the variant trained on all 400 dev photos (and their copies):
  - on the 200 lockbox photos, once: ROC-AUC and SRCC, and the impression head's alone;
  - on the **synthetic lockbox**, copies of the lockbox's good photos only (never of a
    training photo; KADID-10k's 25 types and the 6 defects, another seed than training's)
    with those clean originals: ROC-AUC against fidelity-labelled targets (a copy is good
    when its target, its source's scaled by ``fidelity ** 3`` or by ``1 - severity``, is
    >= 0.5), the recall of copies with fidelity under 0.8 at the model's threshold (best
    F1 out of fold on dev), and the clean originals' false-alarm rate beside it.

Features (and the degraded copies) are cached (``--cache-dir``), so a second run takes
minutes, not an hour.
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

from photoqc.assess.extractor import EMBEDDINGS_KEY, STATS_KEY
from photoqc.assess.recipe import ExtractConfig, RecipeOptions
from photoqc.engines.local import LocalEngine
from photoqc.features.nima import IMPRESSION_FEATURE
from photoqc.pipelines.training.augment import AugmentConfig, augment
from photoqc.pipelines.training.cache import FeatureCache, default_cache_dir
from photoqc.pipelines.training.labels import Labels, read_labels
from photoqc.pipelines.training.train import (
    TrainConfig,
    best_f1_threshold,
    choose_corrections,
    extract_labelled,
    fit_final,
    prepare,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
RESULTS = Path(__file__).resolve().parent / "results"
LOCKBOX_FILE = RESULTS / "lockbox.txt"
LOCKBOX_SIZE = 200
LOCKBOX_SEED = 2026
REPEATS = 3
MOS_THRESHOLD = 50.0

SHIPPED = TrainConfig(augment=AugmentConfig(copies=8, kind="mixed"))
"""The recipe ``scripts/train_default.sh`` trains the built-in model with (with NIMA and
its network heads, and linear MOS targets: MOS / 100)."""
BEFORE = replace(SHIPPED, heads=False, readout=True)
"""The recipe of the release before the heads: NIMA's last layer read out by a ridge."""

VARIANTS = {
    "shipped": (SHIPPED, True, "linear"),
    "before (read-out)": (BEFORE, True, "linear"),
    "no NIMA": (replace(SHIPPED, heads=False), False, "linear"),
    "no copies": (replace(SHIPPED, augment=AugmentConfig(copies=0)), True, "linear"),
    "kadid copies x8": (
        replace(SHIPPED, augment=AugmentConfig(copies=8, kind="kadid")),
        True,
        "linear",
    ),
    "no monotone": (replace(SHIPPED, monotone=False), True, "linear"),
}
"""name -> (training recipe, with NIMA, MOS target: linear MOS / 100 or sigmoid((MOS - 50)
/ 10)). "before (read-out)": the recipe of the release before the network heads (NIMA's
embeddings read out as one feature, ``nima_embedding_quality``). "no copies": no degraded
copies (so no defect head, no penalty). "kadid copies x8": eight copies a photo of
KADID-10k's 25 types only, instead of the 6 defects and the 25 types in turn."""

SYNTHETIC = AugmentConfig(copies=6, kind="mixed", seed=7)
"""The synthetic lockbox's copies: 6 a lockbox photo, another seed than training's."""

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


def synthetic_lockbox(
    box: Labels, config: ExtractConfig, cache: FeatureCache, workers: int, folder: Path
):
    """The lockbox's good photos and copies of them: (frame of the originals, their
    targets, the copies' frame, targets and fidelity; the copies' types)."""
    good = box.target >= 0.6
    originals = Labels(
        [box.images[i] for i in np.flatnonzero(good)],
        [box.paths[i] for i in np.flatnonzero(good)],
        box.target[good],
        box.kind,
        box.mos[good],
    )

    def measure(copy_labels: Labels) -> pd.DataFrame:
        return extract_labelled(
            copy_labels, config, cache=cache, engine=LocalEngine(workers),
            embeddings=True, stats=True,
        )[0]  # fmt: skip

    copies = augment(originals, SYNTHETIC, folder, measure)
    frame = measure(originals)
    return frame, originals, copies


def print_extremes(
    dev: Labels,
    box: Labels,
    config: ExtractConfig,
    cache: FeatureCache,
    copies_dir: Path,
    n: int,
) -> None:
    """The shipped recipe trained on the dev photos (the product's ``train``), and the
    ``n`` lowest- and highest-MOS lockbox photos it scores: MOS, p_good, verdict, first
    reason."""
    import tempfile

    from photoqc.assess.scorer import Scorer
    from photoqc.pipelines.training.train import train

    with tempfile.TemporaryDirectory() as folder:
        train(dev, config, folder, SHIPPED, cache=cache, copies_dir=copies_dir)
        scorer, _ = Scorer.from_model(folder, RecipeOptions(offline=True))
        order = np.argsort(box.mos, kind="stable")
        with scorer:
            for title, picked in (("lowest", order[:n]), ("highest", order[::-1][:n])):
                print(f"\nthe {n} {title}-MOS lockbox photos (model of the {len(dev)} dev photos):")
                assessments = scorer.assess([Path(box.paths[i]) for i in picked])
                for i, a in zip(picked, assessments, strict=True):
                    reason = a.reasons[0].text if a.reasons else "-"
                    print(
                        f"  {Path(box.images[i]).name:14s} MOS {box.mos[i]:5.1f}  "
                        f"p_good {a.p_good:.3f}  {a.verdict:4s}  {reason}"
                    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "clive-dev")
    parser.add_argument("--segmenter", default=None, help="default: the product's default")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--lockbox", action="store_true", help="also score the lockboxes, once")
    parser.add_argument("--variants", nargs="*", default=["shipped"], choices=list(VARIANTS))
    parser.add_argument(
        "--basis-size",
        type=int,
        default=None,
        help="principal directions of the networks' stats the heads keep (default: the "
        "product's, 2,048): how much a smaller basis costs the lockbox",
    )
    parser.add_argument(
        "--extremes",
        type=int,
        default=0,
        metavar="N",
        help="with --lockbox: train the shipped recipe on the dev photos as `photoqc train` "
        "does and list the N lowest- and N highest-MOS lockbox photos with p_good, verdict "
        "and first reason (to look at one by one)",
    )
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
    copies_dir = (args.cache_dir or default_cache_dir()) / "copies"
    start = time.perf_counter()
    engine = LocalEngine(args.workers)
    box_frame = extract_labelled(
        box, config, cache=cache, engine=engine, embeddings=True, stats=True
    )[0]
    synthetic = None
    if args.lockbox:
        synthetic = synthetic_lockbox(box, config, cache, args.workers, copies_dir)
    print(
        f"clive-dev: {len(dev)} dev photos ({int(dev.is_good.sum())} good), {len(box)} in the "
        f"lockbox ({int(box.is_good.sum())} good); segmenter {config.segmenter.kind}"
        + (
            f"; synthetic lockbox {len(synthetic[2])} copies of {len(synthetic[1])} photos"
            if synthetic
            else ""
        )
    )
    print(
        f"\n{'variant':18s} {'CV ROC-AUC':>15s} {'CV SRCC':>15s}"
        + (
            f" {'box ROC':>8s} {'box SRCC':>8s} {'impr. ROC/SRCC':>14s} {'syn ROC':>8s}"
            f" {'recall<0.8':>10s} {'false alarm':>11s}"
            if args.lockbox
            else ""
        )
    )
    for variant in args.variants:
        train_config, with_nima, target = VARIANTS[variant]
        if args.basis_size:
            train_config = replace(train_config, heads_basis=args.basis_size)
        dev, box = parts[target]
        variant_config = config if with_nima else replace(config, nima=())
        data = prepare(
            dev, variant_config, train_config, cache=cache, engine=engine, copies_dir=copies_dir
        )
        aucs, srccs, oofs, chosen = [], [], [], []
        for seed in range(args.repeats):
            picked, result, said = choose_corrections(data, replace(train_config, seed=seed))
            chosen.append(said)
            aucs.append(result.metrics["roc_auc_oof"])
            srccs.append(spearmanr(result.oof, data.labels.mos)[0])
            oofs.append(result.oof)
        line = (
            f"{variant:18s} {np.mean(aucs):>7.3f} ± {np.std(aucs):.3f} "
            f"{np.mean(srccs):>7.3f} ± {np.std(srccs):.3f}"
        )
        if args.lockbox:
            threshold = best_f1_threshold(data.labels.is_good, oofs[0])
            picked, _, _ = choose_corrections(data, train_config)
            fitted = fit_final(data, picked)
            columns = [*fitted.X.columns, EMBEDDINGS_KEY, STATS_KEY]
            frame = box_frame.reindex(columns=[c for c in columns if c in box_frame])
            p_good = fitted.predict_good(frame)
            line += (
                f" {roc_auc_score(box.is_good, p_good):>8.3f} {spearmanr(p_good, box.mos)[0]:>8.3f}"
            )
            learned = fitted.features(frame)
            if IMPRESSION_FEATURE in learned:
                impression = learned[IMPRESSION_FEATURE]
                line += (
                    f" {roc_auc_score(box.is_good, impression):>6.3f}/"
                    f"{spearmanr(impression, box.mos)[0]:.3f}"
                )
            else:
                line += f" {'-':>14s}"
            originals, copies = synthetic[0], synthetic[2]
            orig = originals.reindex(columns=[c for c in columns if c in originals])
            copy_frame = copies.X.reindex(columns=[c for c in columns if c in copies.X])
            p_orig = fitted.predict_good(orig)
            p_copy = fitted.predict_good(copy_frame)
            targets = np.concatenate([synthetic[1].target, copies.target])
            scores = np.concatenate([p_orig, p_copy])
            lost = (1 - copies.losses) < 0.8
            recall = float((p_copy[lost] < threshold).mean())
            alarms = float((p_orig < threshold).mean())
            line += (
                f" {roc_auc_score(targets >= 0.5, scores):>8.3f} {recall:>10.1%} {alarms:>11.1%}"
            )
        print(line, flush=True)
        print(f"  corrections: {'; '.join(chosen)}", flush=True)
        if data.heads is not None:
            basis, rows = data.heads.ridge.basis, len(data.heads.ridge.design)
            print(f"  heads basis: {basis.size} directions for {rows} rows with stats "
                  f"({basis.explained:.1%} of the sample's variance)", flush=True)  # fmt: skip
    if args.lockbox and args.extremes:
        print_extremes(dev, box, config, cache, copies_dir, args.extremes)
    print(f"\n{time.perf_counter() - start:.0f} s")
    if args.lockbox:
        print(f"lockbox scored on {date.today().isoformat()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
