"""Time each stage of the one-image flow: decode, segment, features.

Usage::

    python benchmarks/bench_features.py [--photos DIR] [--limit N] [--threads T]

Prints seconds per image (median over the photos) for:

- decoding (``photoqc.images.load_image``),
- each segmenter (``none``, ``grabcut``, ``maskrcnn`` — with real weights when they can be
  found offline, else with random weights, which time the same network but are labelled
  "timing only"),
- all features (``photoqc.features.compute_features``),

on the real phone photos in ``../shared/data/clive-dev/images`` (500x500) and on a
12-megapixel photo made from scikit-image's astronaut, since listing photos are often
that large.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
from skimage import data

from photoqc.features import compute_features
from photoqc.images import load_image
from photoqc.pipelines.parallel import set_thread_count
from photoqc.segmentation import GrabCutSegmenter, NoSegmenter
from photoqc.weights import WeightsNotFoundError

DEFAULT_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "clive-dev" / "images"


def _median_seconds(fn, items) -> float:
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _maskrcnn(scratch: Path):
    from photoqc.segmentation.maskrcnn import VARIANTS, MaskRCNNSegmenter, untrained_maskrcnn

    try:
        return MaskRCNNSegmenter("v1", allow_download=False), "maskrcnn v1 (COCO weights)"
    except WeightsNotFoundError:
        import torch

        torch.save(untrained_maskrcnn("v1").state_dict(), scratch / VARIANTS["v1"].filename)
        seg = MaskRCNNSegmenter("v1", weights_dir=scratch, min_score=0.0, allow_download=False)
        return seg, "maskrcnn v1 (random weights, timing only)"


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

    sets: dict[str, list[Path]] = {}
    if args.photos.is_dir():
        sets["clive-dev photos (500x500)"] = sorted(args.photos.iterdir())[: args.limit]
    else:
        print(f"note: {args.photos} not found; timing the synthetic 12 MP photo only")
    # Scratch files (a 12 MP JPEG, maybe 170 MB of weights) are removed at exit.
    with tempfile.TemporaryDirectory(prefix="photoqc-bench-") as tmp:
        _time_sets(sets, Path(tmp))
    return 0


def _time_sets(sets: dict[str, list[Path]], big_dir: Path) -> None:
    big = cv2.resize(data.astronaut(), (4000, 3000), interpolation=cv2.INTER_CUBIC)
    big_path = big_dir / "astronaut_12mp.jpg"
    cv2.imwrite(str(big_path), big[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    sets["astronaut 4000x3000 JPEG (12 MP)"] = [big_path] * 3

    maskrcnn, maskrcnn_name = _maskrcnn(big_dir)
    segmenters = [
        ("none", NoSegmenter()),
        ("grabcut", GrabCutSegmenter()),
        (maskrcnn_name, maskrcnn),
    ]

    print(f"{'photos':38s} {'stage':44s} {'s/image':>9s}")
    for set_name, paths in sets.items():
        images = [load_image(p) for p in paths]
        print(f"{set_name:38s} {'decode':44s} {_median_seconds(load_image, paths):9.3f}")
        for seg_name, seg in segmenters:
            t = _median_seconds(lambda im, s=seg: s.segment(im.pixels), images)
            print(f"{set_name:38s} {'segment: ' + seg_name:44s} {t:9.3f}")
        masks = [GrabCutSegmenter().segment(im.pixels).mask for im in images]
        pairs = list(zip(images, masks, strict=True))
        t = _median_seconds(
            lambda p: compute_features(p[0].pixels, p[1], p[0].jpeg_quantization), pairs
        )
        print(f"{set_name:38s} {'features (all groups, with a mask)':44s} {t:9.3f}")


if __name__ == "__main__":
    sys.exit(main())
