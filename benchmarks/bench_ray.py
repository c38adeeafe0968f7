"""Throughput of `photoqc score --engine ray` on this machine, against the local engine.

Usage::

    python benchmarks/bench_ray.py [--photos DIR] [--images 200] [--configs 2x0.5 1x1.0]
    python benchmarks/bench_ray.py --nodes 2 [--images 200]

Scores ``--images`` 500x500 photos (clive-dev's; else crops of scikit-image's photos) with
the default model through ``score_to_csv`` (the runner, the engine, the output): once
with the local engine (one process), then on a local Ray for each ``ACTORSxCPUS``
configuration (actors, CPUs each asks for) and batch size, into a Parquet folder. Ray's
start (``ray.init``, about 4-7 s) is timed apart from the run; a run includes the actors'
start (each loads the model and NIMA once). Prints photos per second, a ``ratio
ray_over_local`` line for the first configuration, and the driver's peak memory.

With ``--nodes N``: a cluster of N Ray nodes of 1 CPU each on 127.0.0.1
(:class:`photoqc.engines.ray_nodes.LocalRayCluster`: a head and N - 1 nodes joining it,
each with its own temp dir, token authentication on), and ``photoqc score FOLDER --engine
ray --ray-address auto --ray-actors N --cpus-per-actor 1`` run against it as a user runs
it, beside ``photoqc score FOLDER --workers 1`` on the same photos: both timed from
outside, the rows compared (every input once, max |p_good difference|, which must be 0),
and the run's own line on where its rows were made ("scored on 2 nodes by 2 actors").

With ``--manifest-rows N``: ``photoqc score MANIFEST --engine ray`` on a local Ray, the
manifest N paths that do not exist (each an error row): rows per second and the driver's
peak RSS (the driver alone, sampled; Ray's own processes are not counted). With
``--writer-rows N``: the driver's one writer alone, N real scores rows written as Parquet
parts, rows per second (what a cluster's actors together must not outrun).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
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


def nodes_run(items, nodes: int, scratch: Path) -> None:
    """The command on a local cluster of ``nodes`` nodes against the local engine."""
    import pandas as pd

    from photoqc.engines.ray_nodes import LocalRayCluster

    folder = scratch / "photos"
    folder.mkdir()
    for item in items:
        (folder / Path(item.image).name).symlink_to(Path(item.image).resolve())
    command = [sys.executable, "-m", "photoqc.cli", "score", str(folder), "--offline"]

    def timed(out: Path, *extra: str, env=None) -> tuple[float, str]:
        start = time.perf_counter()
        done = subprocess.run([*command, "--out", str(out), *extra], capture_output=True,
                              text=True, env=env)  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"photoqc score failed: {done.stderr[-2000:]}")
        return time.perf_counter() - start, " ".join((done.stdout + done.stderr).split())

    local_s, _ = timed(scratch / "local.csv", "--workers", "1")
    print(f"{len(items)} photos; local engine, 1 process: {local_s:6.1f} s "
          f"({len(items) / local_s:5.2f} photos/s)")  # fmt: skip
    start = time.perf_counter()
    with LocalRayCluster(nodes=nodes, cpus_per_node=1) as cluster:
        print(f"{nodes} Ray nodes of 1 CPU started in {time.perf_counter() - start:.1f} s "
              f"(head at {cluster.address}, token authentication on)")  # fmt: skip
        ray_s, said = timed(
            scratch / "parts", "--engine", "ray", "--ray-address", "auto",
            "--ray-actors", str(nodes), "--cpus-per-actor", "1", env=cluster.driver_env(),
        )  # fmt: skip
    where = said[said.find("scored on") :].split(")")[0] + ")" if "scored on" in said else "?"
    print(f"ray engine on {nodes} nodes: {ray_s:6.1f} s ({len(items) / ray_s:5.2f} photos/s)"
          f"; {where}")  # fmt: skip
    local = pd.read_csv(scratch / "local.csv")
    parts = pd.read_parquet(scratch / "parts")
    merged = local.merge(parts, on="image", suffixes=("_local", "_ray"))
    delta = float((merged["p_good_local"] - merged["p_good_ray"]).abs().max())
    once = len(parts) == len(items) and parts["image"].is_unique and len(merged) == len(items)
    print(f"rows: {len(parts)} for {len(items)} inputs, every input once: {once}; "
          f"max |p_good ray - local| {delta:.1e}")  # fmt: skip
    print(
        f"ratio ray_{nodes}_nodes_over_local {local_s / ray_s:.2f} (whole commands, this machine)"
    )


def manifest_run(rows: int, scratch: Path, local_workers: int = 0) -> None:
    """``photoqc score MANIFEST --engine ray`` (or, with ``local_workers``, the local engine
    with that many worker processes) on ``rows`` paths that do not exist (each an error
    row): rows per second and the driver's (main process's) peak RSS, sampled every 0.2 s."""
    import psutil

    manifest = scratch / "manifest.csv"
    with open(manifest, "w") as f:
        f.write("image\n")
        f.writelines(f"missing/{i:09d}.jpg\n" for i in range(rows))
    out = scratch / ("scores.csv" if local_workers else "parts")
    engine = ["--workers", str(local_workers)] if local_workers else ["--engine", "ray"]
    command = [sys.executable, "-m", "photoqc.cli", "score", str(manifest), *engine,
               "--out", str(out), "--offline"]  # fmt: skip
    timer = Path("/usr/bin/time")
    timed = [str(timer), "-v", *command] if timer.exists() else command
    start = time.perf_counter()
    outer = psutil.Popen(timed, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    while outer.poll() is None:
        try:  # the photoqc process itself: /usr/bin/time's child, or the process we started
            driver = outer.children()[0] if timer.exists() else outer
            peak = max(peak, driver.memory_info().rss)
        except (psutil.Error, IndexError):
            pass
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    stderr = outer.stderr.read()
    if outer.returncode != 0:
        raise SystemExit(f"photoqc score failed: {stderr[-2000:]!r}")
    reported = [line for line in stderr.splitlines() if "Maximum resident set size" in line]
    if reported:
        kib = int(reported[-1].split(":")[-1])
        print(
            f"/usr/bin/time -v: maximum resident set size {kib / 1024:.0f} MiB (the largest "
            "of the driver and the processes it waited for: Ray's, started by the driver)"
        )
    if local_workers:
        import pandas as pd

        written = len(pd.read_csv(out, usecols=["image"]))
    else:
        import pyarrow.parquet as pq

        written = pq.ParquetDataset(out).read(columns=["image"]).num_rows
    where = f"local engine, {local_workers} workers" if local_workers else "ray engine"
    print(f"manifest of {rows:,} rows (paths that do not exist; {where}): {written:,} rows "
          f"written in {seconds:.0f} s ({rows / seconds:.0f} rows/s); driver peak RSS "
          f"{peak / 2**20:.0f} MiB")  # fmt: skip


def writer_run(rows: int, scratch: Path) -> None:
    """The driver's one writer alone: ``rows`` scores rows (copies of a real one, each its
    own image name) written as Parquet parts, rows per second."""
    from photoqc.pipelines.batch.outputs import PART_ROWS, ResumableParquetFolder

    items = photos(DEFAULT_PHOTOS, 1, scratch)
    scorer, _ = Scorer.from_model(default_model_dir(), RecipeOptions(offline=True))
    with scorer:
        (row,) = scorer.rows(items)
    columns = list(row)
    text = [c for c, v in row.items() if isinstance(v, str)]
    writer = ResumableParquetFolder(scratch / "parts", columns, text_columns=text)
    start = time.perf_counter()
    for first in range(0, rows, 16):
        writer.write([{**row, "image": f"p{i:09d}.jpg"} for i in range(first, first + 16)])
    writer.close()
    seconds = time.perf_counter() - start
    print(f"the driver's writer alone: {rows:,} rows of {len(columns)} columns as parts of "
          f"{PART_ROWS:,} in {seconds:.1f} s: {rows / seconds:,.0f} rows/s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--configs", nargs="+", default=["2x0.5", "1x1.0"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[16])
    parser.add_argument("--nodes", type=int, default=0, help="a cluster of N local Ray nodes")
    parser.add_argument(
        "--manifest-rows", type=int, default=0, help="a manifest of N missing paths instead"
    )
    parser.add_argument(
        "--local-workers",
        type=int,
        default=0,
        help="with --manifest-rows: the local engine with N worker processes instead of Ray",
    )
    parser.add_argument(
        "--writer-rows", type=int, default=0, help="time the driver's Parquet writer alone"
    )
    args = parser.parse_args()
    import os

    if args.writer_rows:
        with tempfile.TemporaryDirectory(prefix="photoqc-bench-") as tmp:
            writer_run(args.writer_rows, Path(tmp))
        return
    if args.manifest_rows:
        with tempfile.TemporaryDirectory(prefix="photoqc-bench-") as tmp:
            manifest_run(args.manifest_rows, Path(tmp), args.local_workers)
        return

    if args.nodes:
        with tempfile.TemporaryDirectory(prefix="photoqc-bench-") as tmp:
            nodes_run(photos(args.photos, args.images, Path(tmp)), args.nodes, Path(tmp))
        return

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
