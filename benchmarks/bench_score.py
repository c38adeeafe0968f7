"""End-to-end speed of `photoqc score`, per segmenter and number of workers.

Usage::

    python benchmarks/bench_score.py [--images N] [--segmenters none,grabcut,maskrcnn]

Builds the demo's photos (scikit-image, degraded; 512 px long side), trains a small model
per segmenter, then times ``score_to_csv`` (decode, segment, features, predict, reasons,
CSV) over N photos with 1 and 2 worker processes, and reports images per second. Worker
start-up (importing torch, loading models) is included: it is what a user waits for.
Also reports the time of the reasons alone (TreeSHAP + sentences) per image.

Mask R-CNN uses real COCO weights when they are on disk, else randomly initialised
weights saved to a temporary file, labelled "timing only".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from photoqc.models.bundle import load_bundle
from photoqc.models.explain import top_reasons
from photoqc.pipelines.demo import DemoConfig, make_dataset
from photoqc.pipelines.extract import ExtractConfig
from photoqc.pipelines.inputs import csv_inputs
from photoqc.pipelines.labels import read_labels
from photoqc.pipelines.score import score_to_csv, scoring_config
from photoqc.pipelines.train import TrainConfig, train
from photoqc.segmentation import SegmenterConfig, resolve_segmenter
from photoqc.weights import WeightsNotFoundError


def _segmenter_config(kind: str, scratch: Path) -> tuple[SegmenterConfig, str]:
    if kind != "maskrcnn":
        return SegmenterConfig(kind=kind), kind
    try:
        config, _ = resolve_segmenter(SegmenterConfig(kind="maskrcnn", allow_download=False))
        return config, "maskrcnn v1 (COCO weights)"
    except WeightsNotFoundError:
        import torch

        from photoqc.segmentation.maskrcnn import VARIANTS, untrained_maskrcnn

        path = scratch / VARIANTS["v1"].filename
        torch.save(untrained_maskrcnn("v1").state_dict(), path)
        config = SegmenterConfig(kind="maskrcnn", weights_file=str(path), min_score=0.0)
        return config, "maskrcnn v1 (random weights, timing only)"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=40, help="photos to score per run")
    parser.add_argument("--segmenters", default="none,grabcut,maskrcnn")
    args = parser.parse_args()
    # The scratch folder holds models and, for Mask R-CNN, 170 MB of weights: removed at exit.
    with tempfile.TemporaryDirectory(prefix="photoqc-bench-") as tmp:
        return _run(args, Path(tmp))


def _run(args: argparse.Namespace, scratch: Path) -> int:
    demo = DemoConfig(crops_per_photo=1, mild=(0.1,), severe=(0.9,))
    labels_csv, holdout_csv, _ = make_dataset(scratch / "set", demo)
    items = (csv_inputs(labels_csv) + csv_inputs(holdout_csv))[: args.images]
    labels = read_labels(labels_csv)
    print(f"{len(items)} photos, 512 px long side; {len(labels)} training photos per model")
    print(f"{'segmenter':44s} {'workers':>7s} {'img/s':>8s} {'s total':>8s}")
    for kind in args.segmenters.split(","):
        seg, name = _segmenter_config(kind, scratch)
        model_dir = scratch / f"model_{kind}"
        train(labels, ExtractConfig(segmenter=seg), model_dir, TrainConfig(folds=3))
        bundle = load_bundle(model_dir)
        # The bundle records the weights' file name; the scratch folder holds that file.
        config, _ = scoring_config(bundle, weights_dir=str(scratch), allow_download=False)
        for workers in (1, 2):
            out = scratch / f"scores_{kind}_{workers}.csv"
            start = time.perf_counter()
            score_to_csv(items, model_dir, config, out, workers=workers, overwrite=True)
            seconds = time.perf_counter() - start
            print(f"{name:44s} {workers:7d} {len(items) / seconds:8.2f} {seconds:8.1f}")
        scores = pd.read_csv(scratch / f"scores_{kind}_1.csv")
        ok = scores[scores["status"] == "ok"]
        start = time.perf_counter()
        contributions, _ = bundle.contributions(ok)
        for row, values in zip(ok.to_dict("records"), contributions, strict=True):
            top_reasons(row, values, bundle.feature_names, bundle.good_medians)
        per_image = (time.perf_counter() - start) / len(ok)
        print(f"{name:44s} reasons (TreeSHAP + sentences): {1000 * per_image:.2f} ms/image")
    return 0


if __name__ == "__main__":
    sys.exit(main())
