"""A long-lived host building and dropping scorers: does memory and the thread count stay
where they were?

Usage::

    python benchmarks/bench_lifecycle.py [--cycles 20]

In one process, with the built-in model: ``--cycles`` times ``Scorer.from_model``, one
photo scored, then (1) ``close()`` (the ``with`` form), and (2) the scorer simply dropped.
Prints the process's RSS after each cycle, its growth after the second cycle (the first
two pay for imports and caches that stay), and the thread count before and after (issue
32's targets: growth at most 40 MiB closing, 60 MiB dropping; threads back where they
were).
"""

from __future__ import annotations

import argparse
import gc
import io
import threading
import time

import psutil
from PIL import Image

from photoqc.assess.recipe import RecipeOptions
from photoqc.assess.scorer import Scorer
from photoqc.models.bundle import default_model_dir
from photoqc.pipelines.demo import source_photo

TARGETS_MIB = {"close": 40.0, "drop": 60.0}


def cycles(count: int, photo: bytes, close: bool) -> tuple[list[float], int, int]:
    process = psutil.Process()
    before = threading.active_count()
    rss = []
    for _ in range(count):
        scorer, _ = Scorer.from_model(default_model_dir(), RecipeOptions(offline=True))
        (assessment,) = scorer.assess([photo])
        assert assessment.ok, assessment.row["error"]
        if close:
            scorer.close()
        del scorer, assessment
        gc.collect()
        rss.append(process.memory_info().rss / 2**20)
    time.sleep(0.5)  # a dropped batcher's thread ends on its own
    return rss, before, threading.active_count()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=20)
    args = parser.parse_args()
    buffer = io.BytesIO()
    Image.fromarray(source_photo("astronaut")).save(buffer, "JPEG", quality=90)
    photo = buffer.getvalue()
    ok = True
    for mode in ("close", "drop"):
        rss, before, after = cycles(args.cycles, photo, close=mode == "close")
        growth = rss[-1] - rss[1]
        print(f"{mode}: RSS MiB by cycle {' '.join(f'{r:.0f}' for r in rss)}")
        target = TARGETS_MIB[mode]
        print(f"{mode}: growth after the 2nd cycle {growth:.1f} MiB (target <= {target:.0f})")
        print(f"{mode}: threads {before} -> {after}")
        ok &= growth <= TARGETS_MIB[mode] and after <= before
    print("targets met" if ok else "targets missed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
