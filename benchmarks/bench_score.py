"""Throughput of `photoqc score` with the built-in model, in one process and with workers.

Usage::

    python benchmarks/bench_score.py [--photos DIR] [--images 80] [--workers 1 2]

Scores ``--images`` 500x500 phone photos (clive-dev's; without them, 500x500 JPEG crops of
scikit-image's photos) with the default model through ``photoqc score``'s own pipeline
(``score_to_csv``: decode, segment, NIMA, features, predict, reasons, CSV):

- with the model's recipe (fastcut segmenter and both NIMA networks), and
- with ``--segmenter none`` (NIMA still on),

each in one process (``--workers 1``: torch and OpenCV use the machine's cores) and with
the worker counts given. Steady-state photos per second are timed after a warm-up batch
(the start-up of the process, importing torch and loading the networks, is printed
separately: it is paid once per process, not per photo). Then the whole command as a user
runs it, ``photoqc score DIR --out scores.csv`` in a fresh process (start-up, imports and
model loading included).

The last lines are issue 24's targets, the plain figures beside each (photos per second;
higher is better): steady state >= 15 (model's recipe) and >= 25 (``--segmenter none``),
the whole command on 100 photos >= 12.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from photoqc.assess.recipe import RecipeOptions
from photoqc.assess.scorer import Scorer
from photoqc.engines.local import LocalEngine
from photoqc.models.bundle import default_model_dir
from photoqc.pipelines.batch.inputs import InputItem
from photoqc.pipelines.batch.score import score_to_csv
from photoqc.pipelines.demo import source_photo

DEFAULT_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "clive-dev" / "images"
TARGETS = {"model's recipe": 15.0, "--segmenter none": 25.0, "whole command": 12.0}
"""Photos per second in one process on a 2-core machine (issue 24)."""


def photos(folder: Path, count: int, scratch: Path) -> list[InputItem]:
    """``count`` 500x500 photos: clive-dev's, else crops of scikit-image's photos."""
    if folder.is_dir():
        paths = sorted(folder.iterdir())[:count]
    else:
        paths, rng = [], np.random.default_rng(0)
        names = ["astronaut", "coffee", "chelsea", "rocket", "motorcycle"]
        for k in range(count):
            image = source_photo(names[k % len(names)])
            h, w = image.shape[:2]
            y, x = rng.integers(0, h - 400), rng.integers(0, w - 400)
            crop = Image.fromarray(image[y : y + 400, x : x + 400]).resize((500, 500))
            paths.append(scratch / f"{k:04d}.jpg")
            crop.save(paths[-1], quality=90)
    return [InputItem(str(p), p) for p in paths]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="photoqc-bench-") as tmp:
        scratch = Path(tmp)
        items = photos(args.photos, args.images, scratch)
        source = args.photos if args.photos.is_dir() else "scikit-image"
        print(f"{len(items)} photos of 500x500 from {source}")
        print(f"{'recipe':22s} {'workers':>7s} {'start s':>8s} {'img/s':>8s}")
        measured: dict[str, float] = {}
        for name, segmenter in (("model's recipe", None), ("--segmenter none", "none")):
            options = RecipeOptions(
                offline=True, segmenter=segmenter, allow_segmenter_mismatch=segmenter is not None
            )
            for workers in args.workers:
                start = time.perf_counter()
                scorer, _ = Scorer.from_model(default_model_dir(), options)
                engine = LocalEngine(workers)
                warm = items[:8]
                score_to_csv(warm, scorer, scratch / "warm.csv", engine=engine, overwrite=True)
                started = time.perf_counter() - start
                start = time.perf_counter()
                out = scratch / f"scores_{workers}_{segmenter}.csv"
                score_to_csv(items, scorer, out, engine=engine, overwrite=True)
                rate = len(items) / (time.perf_counter() - start)
                if workers == 1:
                    measured[name] = rate
                print(f"{name:22s} {workers:7d} {started:8.1f} {rate:8.1f}")
        measured["whole command"] = whole_command(items, scratch)
        print(f"{'whole command':22s} {1:7d} {'-':>8s} {measured['whole command']:8.1f}")
    for name, target in TARGETS.items():
        if name in measured:
            label = name.replace("'s", "").replace("--", "").replace(" ", "_")
            print(f"target score_{label}_img_per_s {measured[name]:.1f}  (target >= {target:.0f})")
    return 0


def whole_command(items: list[InputItem], scratch: Path) -> float:
    """Photos per second of ``photoqc score FOLDER --out CSV`` in a fresh process, from
    launch to exit (the photos linked into one folder)."""
    folder = scratch / "whole"
    folder.mkdir()
    for item in items:
        (folder / Path(item.image).name).symlink_to(Path(item.image).resolve())
    command = [sys.executable, "-m", "photoqc.cli", "score", str(folder)]
    start = time.perf_counter()
    subprocess.run([*command, "--out", str(scratch / "whole.csv")], check=True, capture_output=True)
    return len(items) / (time.perf_counter() - start)


if __name__ == "__main__":
    sys.exit(main())
