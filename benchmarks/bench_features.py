"""Where the time of one photo goes: decode, segment, each feature group, NIMA.

Usage::

    python benchmarks/bench_features.py [--photos DIR] [--limit 20] [--threads T]

Prints milliseconds per image (median) on clive-dev's 500x500 phone photos (when present)
and on a 12-megapixel JPEG made from scikit-image's astronaut (listing photos are often that
large):

- ``decode (Pillow, full)``: ``Image.open(...).load()``, the yardstick of issue 13;
- ``load_image``: photoqc's loader (checks, EXIF rotation, RGB);
- each segmenter (``none``, ``fastcut``, ``grabcut``);
- each feature group, and all classic features together (no NIMA);
- what the built-in model adds, per photo of a batch: NIMA's two networks with their
  multi-level stats, the network heads, the classifier with TreeSHAP contributions and
  reasons, the scores CSV rows written.

Then issue 24's target as a ``ratio`` line with its plain figures: classic features of the
12 MP JPEG, decode included, over Pillow's full decode of it (target <= 1.5), and the
default segmenter's time on the phone photos (issue 13: <= 40 ms).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data

from photoqc.engines.local import set_thread_count
from photoqc.features import FEATURE_GROUPS, FeatureInput, compute_features
from photoqc.images import load_image
from photoqc.segmentation import GrabCutSegmenter, NoSegmenter
from photoqc.segmentation.fastcut import FastCutSegmenter

DEFAULT_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "clive-dev" / "images"
SEGMENTER_LIMIT_MS = 40.0
FEATURES_OVER_DECODE_TARGET = 1.5
"""Issue 24: all classic features of a 12 MP JPEG, decode included, against Pillow's full
decode of it."""


def median_ms(fn, items, repeat: int = 1) -> float:
    times = []
    for item in items:
        for _ in range(repeat):
            start = time.perf_counter()
            fn(item)
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def pillow_decode(path: Path) -> None:
    with Image.open(path) as image:
        image.load()


def classic_features(path: Path) -> dict[str, float]:
    """Decode and every classic feature, as ``photoqc features --segmenter none --no-nima``."""
    image = load_image(path)
    return compute_features(
        image.pixels,
        None,
        image.jpeg_quantization,
        jpeg_subsampling=image.jpeg_subsampling,
    )


def group_times(paths: list[Path]) -> dict[str, float]:
    """Milliseconds per feature group (each on a fresh input: shared views counted where
    first used, in table order)."""
    images = [load_image(p) for p in paths]
    totals: dict[str, list[float]] = {g.name: [] for g in FEATURE_GROUPS}
    for image in images:
        x = FeatureInput(image.pixels, None, image.jpeg_quantization)
        for group in FEATURE_GROUPS:
            start = time.perf_counter()
            group.compute(x)
            totals[group.name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(t) for name, t in totals.items()}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--limit", type=int, default=20, help="photos to time from --photos")
    parser.add_argument("--threads", type=int, default=0, help="OpenCV/torch threads (0: all)")
    args = parser.parse_args()
    if args.threads:
        set_thread_count(args.threads)
    with tempfile.TemporaryDirectory(prefix="photoqc-bench-") as tmp:
        big = cv2.resize(data.astronaut(), (4000, 3000), interpolation=cv2.INTER_CUBIC)
        noise = np.random.default_rng(0).normal(0, 3, big.shape)
        big_path = Path(tmp) / "astronaut_12mp.jpg"
        Image.fromarray(np.clip(big + noise, 0, 255).astype(np.uint8)).save(big_path, quality=90)
        sets = {"astronaut 4000x3000 JPEG (12 MP)": [big_path] * 5}
        if args.photos.is_dir():
            sets["clive-dev photos (500x500)"] = sorted(args.photos.iterdir())[: args.limit]
        else:
            print(f"note: {args.photos} not found; timing the 12 MP photo only")
        results = {name: run_set(paths) for name, paths in sets.items()}
    big_times = results["astronaut 4000x3000 JPEG (12 MP)"]
    features = big_times["classic features, decode included"]
    decode = big_times["decode (Pillow, full)"]
    print(
        f"ratio features_12mp_over_full_decode {features / decode:.2f}"
        f"  (classic features, decode included, {features:.1f} ms; Pillow's full decode "
        f"{decode:.1f} ms; target <= {FEATURES_OVER_DECODE_TARGET})"
    )
    phone = results.get("clive-dev photos (500x500)", big_times)
    fastcut = phone["segment: fastcut"]
    print(
        f"fastcut on the phone photos {fastcut:.1f} ms (issue 13: <= {SEGMENTER_LIMIT_MS:.0f} ms)"
    )
    return 0


def run_set(paths: list[Path]) -> dict[str, float]:
    name = f"{paths[0].parent.name}/{paths[0].name}"
    times: dict[str, float] = {}
    times["decode (Pillow, full)"] = median_ms(pillow_decode, paths, repeat=3)
    times["load_image"] = median_ms(load_image, paths)
    images = [load_image(p).pixels for p in paths]
    for seg_name, seg in (
        ("none", NoSegmenter()),
        ("fastcut", FastCutSegmenter()),
        ("grabcut", GrabCutSegmenter()),
    ):
        times[f"segment: {seg_name}"] = median_ms(seg.segment, images)
    for group, ms in group_times(paths).items():
        times[f"features: {group}"] = ms
    times["classic features, decode included"] = median_ms(classic_features, paths, repeat=2)
    times.update(model_stage_ms(paths))
    print(f"\n{name} and {len(paths) - 1} more")
    for stage, ms in times.items():
        print(f"  {stage:48s} {ms:9.1f} ms")
    return times


def model_stage_ms(paths: list[Path]) -> dict[str, float]:
    """Milliseconds a photo of what the built-in model adds once the pixels are measured,
    stage by stage, for the photos scored as one batch (as ``photoqc score`` does): the
    networks with their multi-level stats, the heads, the classifier with its TreeSHAP
    contributions and the reasons, and the scores CSV rows written."""
    import csv
    import io

    import pandas as pd

    from photoqc.assess.recipe import RecipeOptions
    from photoqc.assess.scorer import Scorer, judge
    from photoqc.models.bundle import default_model_dir
    from photoqc.models.nima.predictor import MAX_PASS

    n = len(paths)
    times: dict[str, float] = {}
    scorer, _ = Scorer.from_model(default_model_dir(), RecipeOptions(offline=True))
    with scorer:
        bundle, predictor = scorer.bundle, scorer.extractor.nima.predictor
        images = [load_image(p).pixels for p in paths]
        predictor.outputs(images[:2])
        start = time.perf_counter()
        outputs = predictor.outputs(images)
        times[f"NIMA with multi-level stats (passes of {MAX_PASS})"] = time.perf_counter() - start
        assessed = scorer.assess(list(paths))  # the rows the next stages read
        ok = [a for a in assessed if a.ok]
        start = time.perf_counter()
        bundle.heads.features(bundle.heads.matrix([o.stats for o in outputs]))
        times["network heads (impression, defects)"] = time.perf_counter() - start
        frame = pd.DataFrame([a.row for a in ok])
        start = time.perf_counter()
        p_good = bundle.predict_good(frame)
        contributions, _ = bundle.contributions(frame)
        for j, a in enumerate(ok):
            judge(bundle, a.row, p_good[j], contributions[j], scorer.specs, scorer.good)
        times["classifier, TreeSHAP contributions, reasons"] = time.perf_counter() - start
        start = time.perf_counter()
        rows = [scorer.csv_row(a) for a in assessed]
        writer = csv.DictWriter(io.StringIO(), fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        times["scores CSV rows (with perceptual hashes), written"] = time.perf_counter() - start
    return {stage: 1000 * seconds / n for stage, seconds in times.items()}


if __name__ == "__main__":
    sys.exit(main())
