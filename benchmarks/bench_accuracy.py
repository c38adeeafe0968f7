"""How well photoqc's classifier agrees with people on real photos (clive-dev).

Usage::

    python benchmarks/bench_accuracy.py [--segmenter grabcut] [--nima-dir DIR] [--ablation]

Uses ``../shared/data/clive-dev`` (300 phone photos, MOS 0–100; good = MOS >= 50) and runs
the product's own cross-validation (``photoqc.pipelines.train.cross_validate``: stratified
5-fold, early stopping inside each training part) 5 times with different seeds. Prints,
for the feature set without NIMA and with NIMA (idealo's technical and aesthetic models,
imported from ``--nima-dir``'s ``.tflite`` files), the mean and standard deviation over
the 5 repetitions of the out-of-fold ROC-AUC and of the Spearman correlation between
p_good and MOS, for soft MOS targets (sigmoid around 50) and hard labels. With
``--ablation`` it also drops each feature group in turn from each feature set (AUC with
and without it). ``--embedding-stack`` measures an experiment that is not in the product: a
ridge on NIMA's pooled MobileNet embeddings, learned in each fold, as one more feature.
Finally the top features by mean |SHAP| of a model trained on all photos
with the median number of rounds the cross-validation chose.
Features are cached (``--cache-dir``), so a second run takes seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from photoqc.features import table_groups
from photoqc.models.classifier import GoodBadClassifier
from photoqc.pipelines.cache import FeatureCache, default_cache_dir
from photoqc.pipelines.extract import ExtractConfig
from photoqc.pipelines.labels import Labels, read_labels
from photoqc.pipelines.train import TrainConfig, cross_validate, extract_labelled
from photoqc.segmentation import SegmenterConfig

SHARED = Path(__file__).resolve().parents[2] / "shared"
REPEATS = 5


def import_nima(nima_dir: Path, out_dir: Path) -> tuple[str, ...]:
    """idealo's .tflite models as photoqc safetensors (technical, aesthetic)."""
    from photoqc.models.nima import NIMA
    from photoqc.models.nima_import import import_weights
    from photoqc.models.nima_weights import save_nima

    paths = []
    for name in ("technical", "aesthetic"):
        model = NIMA("mobilenet_v1")
        model.load_state_dict(import_weights(nima_dir / f"{name}_model.tflite"))
        path = out_dir / f"nima_{name}.safetensors"
        save_nima(model, path)
        paths.append(str(path))
    return tuple(paths)


def repeated_cv(X: pd.DataFrame, labels: Labels, repeats: int = REPEATS) -> dict[str, float]:
    """Mean and std over repetitions of out-of-fold ROC-AUC and SRCC(p_good, MOS), and the
    median number of boosting rounds the folds chose."""
    aucs, srccs, rounds = [], [], []
    for seed in range(repeats):
        result = cross_validate(X, labels, TrainConfig(seed=seed))
        aucs.append(result.metrics["roc_auc_oof"])
        srccs.append(spearmanr(result.oof, labels.mos)[0])
        rounds += result.best_iterations
    return {
        "auc": np.mean(aucs),
        "auc_sd": np.std(aucs),
        "srcc": np.mean(srccs),
        "srcc_sd": np.std(srccs),
        "rounds": int(np.median(rounds)),
    }


def hard(labels: Labels) -> Labels:
    """The same photos with hard labels (MOS >= 50)."""
    return Labels(
        labels.images, labels.paths, (labels.mos >= 50).astype(float), "label", labels.mos
    )


def nima_embeddings(paths: list[Path], weight_files: tuple[str, ...]) -> np.ndarray:
    """Each NIMA model's pooled MobileNet features (1024 per model) side by side."""
    import torch

    from photoqc.images import load_image
    from photoqc.models.nima_predict import NimaPredictor

    predictor = NimaPredictor(weight_files)
    out = []
    with torch.inference_mode():
        for start in range(0, len(paths), 32):
            images = [load_image(p).pixels for p in paths[start : start + 32]]
            out.append(
                np.hstack(
                    [m.backbone(m.preprocessing(images)).numpy() for m in predictor.models.values()]
                )
            )
    return np.vstack(out)


def embedding_stack_cv(
    X: pd.DataFrame, labels: Labels, embeddings: np.ndarray, repeats: int = REPEATS
) -> dict[str, float]:
    """Experiment, not in the product: a ridge regression of MOS on NIMA's embeddings,
    learned inside each training part, as one more LightGBM feature (stacking).

    The ridge's value for a training photo is its out-of-fold prediction within that
    training part (so LightGBM does not learn from a fitted, over-confident score); for a
    test photo it comes from the ridge fitted on the whole training part.
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def ridge():
        return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-1, 5, 25)))

    is_good, target, mos = labels.is_good, labels.target, labels.mos
    aucs, srccs, ridge_aucs = [], [], []
    for seed in range(repeats):
        # The product's settings, so the experiment differs from cross_validate only in
        # the stacked feature.
        config = TrainConfig(seed=seed)
        oof, oof_ridge = np.zeros(len(X)), np.zeros(len(X))
        splits = StratifiedKFold(config.folds, shuffle=True, random_state=seed).split(X, is_good)
        for fold, (train, test) in enumerate(splits):
            inner = StratifiedKFold(5, shuffle=True, random_state=seed).split(train, is_good[train])
            X_train, X_test = X.iloc[train].copy(), X.iloc[test].copy()
            X_train["nima_embedding_ridge"] = cross_val_predict(
                ridge(), embeddings[train], mos[train], cv=list(inner)
            )
            X_test["nima_embedding_ridge"] = (
                ridge().fit(embeddings[train], mos[train]).predict(embeddings[test])
            )
            oof_ridge[test] = X_test["nima_embedding_ridge"]
            model = GoodBadClassifier(
                soft=labels.soft,
                n_estimators=config.n_estimators,
                early_stopping_rounds=config.early_stopping_rounds,
                random_state=seed + fold,
            )
            model.n_estimators = model.select_rounds(
                X_train, target[train], is_good[train], folds=config.inner_folds
            )
            oof[test] = model.fit(X_train, target[train]).predict_good(X_test)
        aucs.append(roc_auc_score(is_good, oof))
        srccs.append(spearmanr(oof, mos)[0])
        ridge_aucs.append(roc_auc_score(is_good, oof_ridge))
    return {
        "auc": np.mean(aucs),
        "auc_sd": np.std(aucs),
        "srcc": np.mean(srccs),
        "ridge_auc": np.mean(ridge_aucs),
    }


def top_shap(X: pd.DataFrame, labels: Labels, rounds: int, n: int = 12) -> pd.Series:
    """Features by mean |SHAP| of a model trained on all photos for ``rounds`` rounds."""
    model = GoodBadClassifier(soft=labels.soft, n_estimators=rounds).fit(X, labels.target)
    contributions = model.booster_.predict(X, pred_contrib=True)[:, :-1]
    return pd.Series(np.abs(contributions).mean(axis=0), index=X.columns).sort_values(
        ascending=False
    )[:n]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "clive-dev")
    parser.add_argument("--nima-dir", type=Path, default=SHARED / "weights" / "nima")
    parser.add_argument("--segmenter", default="grabcut", choices=["none", "grabcut", "maskrcnn"])
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ablation", action="store_true", help="drop each feature group in turn")
    parser.add_argument(
        "--embedding-stack",
        action="store_true",
        help="experiment: add a ridge on NIMA's 2x1024-d embeddings, learned in each fold",
    )
    args = parser.parse_args()
    if not (args.data / "labels.csv").is_file():
        print(f"needs {args.data}/labels.csv; not found")
        return 1
    labels = read_labels(args.data / "labels.csv", mos_threshold=50)
    nima = ()
    if (args.nima_dir / "technical_model.tflite").is_file():
        # Imported once into the cache folder: the feature cache is keyed by the files' hashes.
        nima_out = (args.cache_dir or default_cache_dir()) / "nima-idealo"
        if not all(
            (nima_out / f"nima_{n}.safetensors").is_file() for n in ("technical", "aesthetic")
        ):
            nima_out.mkdir(parents=True, exist_ok=True)
            import_nima(args.nima_dir, nima_out)
        nima = tuple(str(nima_out / f"nima_{n}.safetensors") for n in ("technical", "aesthetic"))
    from photoqc.models.nima_predict import nima_model_names

    config = ExtractConfig(
        segmenter=SegmenterConfig(kind=args.segmenter, allow_download=False),
        nima_weights=nima,
        nima_models=nima_model_names(nima),
    )
    start = time.perf_counter()
    frame, failed, cached = extract_labelled(
        labels, config, cache=FeatureCache(args.cache_dir), workers=args.workers
    )
    print(
        f"{len(labels)} photos, segmenter {args.segmenter}, NIMA {'on' if nima else 'off'}: "
        f"features in {time.perf_counter() - start:.0f} s ({cached} cached, {len(failed)} failed)"
    )
    names = [n for n in config.feature_names() if frame[n].notna().any()]
    X = frame[names].astype(float)
    no_nima = [n for n in names if not n.startswith("nima_")]
    sets = {"without NIMA": no_nima, "with NIMA": names} if nima else {"without NIMA": no_nima}
    print(f"\n{'features':14s} {'targets':6s} {'ROC-AUC (5x5-fold)':>20s} {'SRCC p_good~MOS':>18s}")
    soft_results = {}
    for set_name, columns in sets.items():
        for target_name, target in (("soft", labels), ("hard", hard(labels))):
            r = repeated_cv(X[columns], target)
            if target_name == "soft":
                soft_results[set_name] = r
            print(
                f"{set_name:14s} {target_name:6s} {r['auc']:>13.3f} ± {r['auc_sd']:.3f} "
                f"{r['srcc']:>11.3f} ± {r['srcc_sd']:.3f}"
            )
    if args.ablation:
        for set_name, columns in sets.items():
            print(f"\nablation (soft targets, {set_name}): ROC-AUC without each group")
            base = soft_results[set_name]["auc"]
            print(f"{'all groups':24s} {base:.3f}")
            for group in table_groups(config.nima_models):
                dropped = [n for n in columns if n not in group.names]
                if len(dropped) == len(columns):
                    continue
                auc = repeated_cv(X[dropped], labels)["auc"]
                print(f"{'without ' + group.name:24s} {auc:.3f}  (group's gain {base - auc:+.3f})")
    if args.embedding_stack and nima:
        embeddings = nima_embeddings([Path(p) for p in labels.paths], nima)
        r = embedding_stack_cv(X[names], labels, embeddings)
        print(
            "\nexperiment (not in the product), soft targets: with NIMA + a ridge of MOS on "
            "NIMA's embeddings stacked in each fold"
        )
        print(
            f"{'ROC-AUC':>10s} {r['auc']:.3f} ± {r['auc_sd']:.3f}   SRCC {r['srcc']:.3f}   "
            f"(the ridge alone: ROC-AUC {r['ridge_auc']:.3f})"
        )
    for set_name, columns in sets.items():
        rounds = soft_results[set_name]["rounds"]
        print(
            f"\ntop features by mean |SHAP| (log-odds), soft targets, {set_name}, "
            f"model on all photos ({rounds} rounds):"
        )
        for name, value in top_shap(X[columns], labels, rounds).items():
            print(f"  {name:36s} {value:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
