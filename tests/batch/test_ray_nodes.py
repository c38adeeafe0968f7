"""`photoqc score --engine ray --ray-address auto` on a cluster of two Ray nodes started here
on 127.0.0.1 (token authentication on, as on a real cluster): the local engine's rows,
every input once, and the run says which nodes and actors made them. Only this test's
own nodes are stopped, by their process ids."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import encode

pytest.importorskip("ray", reason="ray not installed (pip install 'photoqc[ray]')")
pytest.importorskip("psutil", reason="psutil not installed (pip install 'photoqc[ray]')")
pytestmark = pytest.mark.slow  # starts a cluster

PHOTOS = 20


@pytest.fixture(scope="module")
def folder(tmp_path_factory, astronaut, chelsea, coffee):
    photos = tmp_path_factory.mktemp("photos")
    for i in range(PHOTOS):
        image = (astronaut, chelsea, coffee)[i % 3]
        quality = 40 + 3 * i  # twenty different files
        (photos / f"p{i:02d}.jpg").write_bytes(encode(image, "JPEG", quality=quality))
    return photos


def _score(folder, out, *extra, env=None):
    return subprocess.run(
        [sys.executable, "-m", "photoqc.cli", "score", str(folder), "--out", str(out),
         "--offline", *extra],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip


def test_two_nodes_score_as_the_local_engine_and_say_where(folder, tmp_path):
    from photoqc.engines.ray_nodes import LocalRayCluster

    local = _score(folder, tmp_path / "local.csv", "--workers", "1")
    assert local.returncode == 0, local.stderr
    outside = LocalRayCluster(nodes=1)  # never started: its processes are none of ours
    with LocalRayCluster(nodes=2, cpus_per_node=1) as cluster:
        ours = {p.pid for p in cluster.processes()}
        assert len(ours) >= 4  # two raylets, the GCS, their helpers
        joined = _score(
            folder, tmp_path / "parts", "--engine", "ray", "--ray-address", "auto",
            "--ray-actors", "2", "--cpus-per-actor", "1", "--batch-size", "2",
            env=cluster.driver_env(),
        )  # fmt: skip
        refused = _score(
            folder, tmp_path / "refused", "--engine", "ray", "--ray-address", "auto",
            env={**cluster.driver_env(), "RAY_AUTH_TOKEN": "0" * 32},
        )  # fmt: skip
    assert not cluster.processes() and not outside.processes()
    outside.close()
    assert joined.returncode == 0, joined.stderr
    said = " ".join((joined.stdout + joined.stderr).split())
    assert "scored on 2 nodes by 2 actors" in said, said
    rows = pd.read_parquet(tmp_path / "parts")
    expected = pd.read_csv(tmp_path / "local.csv")
    assert len(rows) == PHOTOS and rows["image"].is_unique
    merged = expected.merge(rows, on="image", suffixes=("_local", "_ray"))
    delta = (merged["p_good_local"] - merged["p_good_ray"]).abs().max()
    assert len(merged) == PHOTOS and delta == 0, delta
    assert (merged["verdict_local"] == merged["verdict_ray"]).all()
    # A driver with the wrong token is refused, in words, not a traceback.
    assert refused.returncode != 0 and "Traceback" not in refused.stderr[-3000:]


def test_a_rerun_after_a_node_is_killed_keeps_what_was_written_and_scores_the_rest(
    folder, tmp_path
):
    import os
    import signal
    import time

    from photoqc.engines.ray_nodes import LocalRayCluster

    out = tmp_path / "parts"
    with LocalRayCluster(nodes=2, cpus_per_node=1) as cluster:
        command = [
            sys.executable, "-m", "photoqc.cli", "score", str(folder), "--out", str(out),
            "--offline", "--engine", "ray", "--ray-address", "auto", "--cpus-per-actor", "1",
            "--batch-size", "1", "--part-rows", "2",
        ]  # fmt: skip
        run = subprocess.Popen(
            [*command, "--ray-actors", "2"], env=cluster.driver_env(), start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 180
        while not list(out.glob("part-*.parquet")) and time.monotonic() < deadline:
            assert run.poll() is None, "the run ended before any part was written"
            time.sleep(0.1)
        assert list(out.glob("part-*.parquet")), "no part written in 180 s"
        for process in cluster.node_processes(1):  # the second node dies, kill -9
            try:
                process.kill()
            except Exception:
                pass
        try:  # its actor cannot come back on the one CPU left: the run waits or fails
            run.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)  # the operator gives up on it
            run.wait()
        kept = len(pd.read_parquet(out)) if list(out.glob("part-*.parquet")) else 0
        assert 0 < kept < PHOTOS
        again = subprocess.run(
            [*command, "--ray-actors", "1"], env=cluster.driver_env(), capture_output=True,
            text=True, timeout=600,
        )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    said = " ".join((again.stdout + again.stderr).split())
    assert f"{PHOTOS - kept} scored now" in said and f"{kept} already there" in said, said
    rows = pd.read_parquet(out)
    assert len(rows) == PHOTOS and rows["image"].is_unique


def test_train_measures_on_the_cluster_what_the_local_engine_measures(folder, tmp_path):
    """`train --engine ray` fills the feature cache with exactly the local engine's rows
    and stats (same keys: a local run after it measures nothing)."""
    from photoqc.assess.extractor import STATS_KEY
    from photoqc.engines.ray_nodes import LocalRayCluster
    from photoqc.pipelines.training.cache import FeatureCache

    photos = sorted(folder.glob("*.jpg"))
    labels = tmp_path / "labels.csv"
    pd.DataFrame(
        {"image": [str(p) for p in photos], "mos": [20 + 3 * i for i in range(len(photos))]}
    ).to_csv(labels, index=False)

    def train(cache, out, *extra, env=None):
        return subprocess.run(
            [sys.executable, "-m", "photoqc.cli", "train", str(labels), "--out", str(out),
             "--mos-threshold", "50", "--segmenter", "fastcut", "--offline",
             "--cache-dir", str(cache), *extra],
            capture_output=True, text=True, env=env, timeout=600,
        )  # fmt: skip

    with LocalRayCluster(nodes=2, cpus_per_node=1) as cluster:
        on_ray = train(
            tmp_path / "ray-cache", tmp_path / "m1", "--engine", "ray", "--ray-address", "auto",
            "--ray-actors", "2", "--cpus-per-actor", "1", "--batch-size", "2",
            env=cluster.driver_env(),
        )  # fmt: skip
    assert on_ray.returncode == 0, on_ray.stderr[-3000:]
    assert "on 2 nodes by 2 actors" in " ".join(on_ray.stderr.split()), on_ray.stderr[-3000:]
    again = train(tmp_path / "ray-cache", tmp_path / "m2", "--workers", "1")
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{PHOTOS} features from cache" in " ".join(again.stderr.split())
    local = train(tmp_path / "local-cache", tmp_path / "m3", "--workers", "1")
    assert local.returncode == 0, local.stderr[-3000:]
    assert "0 features from cache" in " ".join(local.stderr.split())

    def everything(folder):
        import sqlite3

        cache = FeatureCache(folder)
        with sqlite3.connect(cache.path) as db:
            keys = [k for (k,) in db.execute("SELECT key FROM rows ORDER BY key")]
        return keys, cache.get_many(keys), cache.get_stats(keys)

    keys, rows, stats = everything(tmp_path / "ray-cache")
    local_keys, local_rows, local_stats = everything(tmp_path / "local-cache")
    assert len(keys) == PHOTOS and keys == local_keys
    for key in keys:
        ray_row = {k: v for k, v in rows[key].items() if k != STATS_KEY}
        local_row = {k: v for k, v in local_rows[key].items() if k != STATS_KEY}
        assert ray_row.keys() == local_row.keys()
        for column, value in ray_row.items():
            same = value == local_row[column] or (
                value != value and local_row[column] != local_row[column]
            )
            assert same, (key, column, value, local_row[column])
        for model, values in stats[key].items():
            np.testing.assert_array_equal(values, local_stats[key][model])
