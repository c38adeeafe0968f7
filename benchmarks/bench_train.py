"""How long `photoqc train` takes, and how much memory it holds, at 10,000 and 100,000 rows.

Usage::

    python benchmarks/bench_train.py --rows 10000            # real photos, features cached
    python benchmarks/bench_train.py --synthetic 100000      # synthetic rows, same width

``--rows N``: the real photos of clive-dev and biq2021-train-s12 (kept beside the
repository; 3,920 photos, MOS 0-100 in both: MOS / 100 as the target, as the built-in model
is trained) and enough degraded copies of the good ones (``--copy-kind mixed``) to make at
least N rows, trained exactly as ``photoqc train`` trains (features from the cache: run
it once to fill the cache, then again to time the fit; the first run says how many
features it measured).

``--synthetic N``: N rows that are not photos but have a photo's shape: the recipe's 150
or so hand-made features (random, with some structure) and the networks' 23,808 stats a
row, made a chunk at a time from a seed (never all held), a quarter photos and three
quarters copies; from there training is the product's own code (heads in the reduced
basis, cross-validation with and without trees, final model).

Both print each stage's wall time, the whole, and the process's peak resident memory
(``ru_maxrss``). No test times anything; these numbers go in the README.
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parents[2] / "shared"
STATS_WIDTH = 23_808
"""Both NIMA MobileNets' multi-level stats, as the shipped recipe makes them."""


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def listener():
    from photoqc.pipelines.training.progress import LogLines

    return LogLines(lambda line: print(f"  {line}", flush=True), every=30.0)


def report(stages, started: float, rows: int) -> None:
    print(f"\nstages ({rows:,} rows, {date.today()}):")
    for stage, seconds in stages.seconds.items():
        print(f"  {stage:40s} {seconds:8.1f} s")
    print(f"  {'whole':40s} {time.perf_counter() - started:8.1f} s")
    print(f"peak RSS {peak_mib():,.0f} MiB")


def real(rows: int, workers: int, cache_dir: Path | None) -> int:
    from photoqc.assess.recipe import ExtractConfig, RecipeOptions
    from photoqc.engines.local import LocalEngine
    from photoqc.pipelines.training.augment import AugmentConfig
    from photoqc.pipelines.training.cache import FeatureCache
    from photoqc.pipelines.training.config import TrainConfig
    from photoqc.pipelines.training.labels import Labels
    from photoqc.pipelines.training.progress import Stages
    from photoqc.pipelines.training.train import train

    parts = []
    for name in ("clive-dev", "biq2021-train-s12"):
        folder = SHARED / "data" / name
        if not (folder / "labels.csv").is_file():
            print(f"needs {folder}/labels.csv; not found")
            return 1
        table = pd.read_csv(folder / "labels.csv")
        parts.append(pd.DataFrame({"path": [str(folder / p) for p in table["image"]],
                                   "mos": table["mos"].astype(float)}))  # fmt: skip
    table = pd.concat(parts, ignore_index=True)
    target = np.clip(table["mos"].to_numpy() / 100.0, 0, 1)
    labels = Labels(list(table["path"]), [Path(p) for p in table["path"]], target, "mos",
                    table["mos"].to_numpy())  # fmt: skip
    lenders = int((target >= AugmentConfig.min_target).sum())
    copies = max(0, math.ceil((rows - len(labels)) / max(lenders, 1)))
    print(f"{len(labels):,} photos ({lenders:,} lend copies) and {copies} copies of each "
          f"lender: {len(labels) + copies * lenders:,} rows")  # fmt: skip
    config, _ = ExtractConfig.resolve(RecipeOptions(segmenter="fastcut", offline=True))
    stages = Stages(listener())
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        outcome = train(
            labels,
            config,
            out,
            TrainConfig(augment=AugmentConfig(copies=copies, kind="mixed")),
            cache=FeatureCache(cache_dir),
            engine=LocalEngine(workers),
            stages=stages,
        )
    print(f"features from the cache: {outcome.from_cache:,} of {len(labels):,} photos")
    report(stages, started, len(labels) + copies * lenders)
    m = outcome.cv.metrics
    print(f"cross-validated ROC-AUC {m['roc_auc_oof']:.3f} (out of fold, both studies)")
    return 0


class SyntheticStats:
    """Rows of stats made from a seed, a chunk at a time: a few causes shared by many
    numbers, plus noise, in the 0-6 range of ReLU6 activations."""

    def __init__(self, n: int, width: int, seed: int, loadings: np.ndarray):
        self.n, self.width, self.seed, self.loadings = n, width, seed, loadings

    def __len__(self) -> int:
        return self.n

    def rows(self, index: np.ndarray) -> np.ndarray:
        out = np.empty((len(index), self.width), np.float32)
        for k, i in enumerate(index):
            rng = np.random.default_rng((self.seed, int(i)))
            causes = rng.normal(size=self.loadings.shape[0]).astype(np.float32)
            noise = rng.standard_normal(self.width, dtype=np.float32) * 0.05
            out[k] = np.clip(1.0 + causes @ self.loadings + noise, 0, 6)
        return out

    def chunks(self, index: np.ndarray, size: int = 2048):
        for start in range(0, len(index), size):
            yield self.rows(index[start : start + size])

    def finite(self, stages=None) -> np.ndarray:
        return np.ones(self.n, bool)

    def target(self, index: np.ndarray) -> np.ndarray:
        """What people would say: the first cause, squashed to 0-1."""
        first = [np.random.default_rng((self.seed, int(i))).normal() for i in index]
        return 1 / (1 + np.exp(-np.asarray(first)))


def synthetic(rows: int) -> int:
    from photoqc.assess.recipe import ExtractConfig, RecipeOptions
    from photoqc.pipelines.training.augment import Augmented
    from photoqc.pipelines.training.config import TrainConfig
    from photoqc.pipelines.training.heads import TrainingHeads
    from photoqc.pipelines.training.labels import Labels
    from photoqc.pipelines.training.progress import Stages
    from photoqc.pipelines.training.train import (
        TrainingSet,
        choose_corrections,
        defect_directions,
        fit_final,
        heads_features,
        monotone_map,
    )
    from photoqc.synthetic import DEFECT_CLASSES

    config, _ = ExtractConfig.resolve(RecipeOptions(segmenter="fastcut", offline=True))
    names = [n for n in config.feature_names() if not n.startswith("nima_")]
    n_photos = rows // 4
    n_copies = rows - n_photos
    rng = np.random.default_rng(0)
    loadings = (rng.normal(size=(16, STATS_WIDTH)) * 0.1).astype(np.float32)
    photo_stats = SyntheticStats(n_photos, STATS_WIDTH, 1, loadings)
    copy_stats = SyntheticStats(n_copies, STATS_WIDTH, 2, loadings)
    target = photo_stats.target(np.arange(n_photos))
    X = pd.DataFrame(rng.normal(size=(n_photos, len(names))), columns=names)
    X[names[0]] += 2 * (target - 0.5)
    source = rng.integers(0, n_photos, n_copies)
    classes = [DEFECT_CLASSES[i % len(DEFECT_CLASSES)] for i in range(n_copies)]
    losses = rng.uniform(0, 0.5, n_copies)
    extra = Augmented(
        X.iloc[source].reset_index(drop=True) + rng.normal(size=(n_copies, len(names))) * 0.3,
        target[source] * (1 - losses),
        np.ones(n_copies),
        source,
        ["synthetic"] * n_copies,
        classes=classes,
        losses=losses,
    )
    labels = Labels([f"p{i}" for i in range(n_photos)], [Path(f"p{i}") for i in range(n_photos)],
                    target, "mos", target * 100)  # fmt: skip
    stages = Stages(listener())
    started = time.perf_counter()
    from photoqc.models.heads import loss_targets

    heads = TrainingHeads.from_rows(
        photo_stats, copy_stats, target, source, loss_targets(DEFECT_CLASSES, classes, losses),
        np.ones(n_copies, bool), ("technical", "aesthetic"), STATS_WIDTH, 5, stages,
    )  # fmt: skip
    train_config = TrainConfig()
    data = TrainingSet(
        labels, X, X, extra, None, heads,
        monotone_map([*names, *heads_features(heads)], config, train_config.monotone),
        defect_directions(names, config), config,
    )  # fmt: skip
    chosen, cv, choice = choose_corrections(data, train_config, stages)
    rounds = max(1, int(np.median(cv.best_iterations)))
    fit_final(data, chosen, rounds, stages)
    print(f"{n_photos:,} synthetic photos and {n_copies:,} copies, {STATS_WIDTH:,} stats a row")
    report(stages, started, rows)
    print(f"corrections: {choice}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--rows", type=int, help="real photos and their copies, at least N rows")
    which.add_argument("--synthetic", type=int, metavar="N", help="N synthetic rows")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    if args.rows:
        return real(args.rows, args.workers, args.cache_dir)
    return synthetic(args.synthetic)


if __name__ == "__main__":
    sys.exit(main())
