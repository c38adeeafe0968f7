"""Throughput of `photoqc score --engine ray` on this machine, against the local engine.

Usage::

    python benchmarks/bench_ray.py [--photos DIR] [--images 200] [--configs 2x0.5 1x1.0]

Scores ``--images`` 500x500 photos (clive-dev's; else crops of scikit-image's photos) with
the default model through ``score_to_csv`` (the runner, the engine, the output): once
with the local engine (one process), then on a local Ray for each ``ACTORSxCPUS``
configuration (actors, CPUs each asks for) and batch size, into a Parquet folder. Ray's
start (``ray.init``, about 4-7 s) is timed apart from the run; a run includes the actors'
start (each loads the model and NIMA once). Prints photos per second, a ``ratio
ray_over_local`` line for the first configuration, and the driver's peak memory.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from bench_score import DEFAULT_PHOTOS, photos

from photoqc.assess.recipe import RecipeOptions
from photoqc.assess.scorer import Scorer
from photoqc.engines.local import LocalEngine
from photoqc.engines.ray import RayEngine
from photoqc.models.bundle import default_model_dir
from photoqc.pipelines.batch.score import score_to_csv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--configs", nargs="+", default=["2x0.5", "1x1.0"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[16])
    args = parser.parse_args()
    import os

    import ray

    with tempfile.TemporaryDirectory(prefix="photoqc-bench-") as tmp:
        scratch = Path(tmp)
        items = photos(args.photos, args.images, scratch)
        scorer, _ = Scorer.from_model(default_model_dir(), RecipeOptions(offline=True))
        print(f"{len(items)} photos; {os.cpu_count()} cores")
        start = time.perf_counter()
        score_to_csv(items, scorer, scratch / "local.csv", engine=LocalEngine(1))
        rate = len(items) / (time.perf_counter() - start)
        local = rate
        print(f"local engine, 1 process:            {rate:6.2f} img/s")
        start = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), object_store_memory=256 << 20, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)  # fmt: skip
        print(f"ray.init: {time.perf_counter() - start:.1f} s")
        rates: dict[str, float] = {}
        for config in args.configs:
            actors, cpus = config.split("x")
            for batch in args.batch_sizes:
                engine = RayEngine(actors=int(actors), cpus_per_actor=float(cpus), batch_rows=batch)
                out = scratch / f"ray_{config}_{batch}"
                start = time.perf_counter()
                score_to_csv(items, scorer, out, engine=engine, folder=True)
                rate = len(items) / (time.perf_counter() - start)
                print(f"ray, {actors} actors x {cpus} CPU, batch {batch:2d}: {rate:6.2f} img/s")
                rates.setdefault("first", rate)
        ray.shutdown()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"driver peak memory: {peak:.0f} MiB (models loaded once here for the local run)")
    print(f"ratio ray_over_local {rates['first'] / local:.2f} ({args.configs[0]}, one machine)")


if __name__ == "__main__":
    main()
