"""`photoqc score --engine ray --ray-address auto` on a cluster of two Ray nodes started here
on 127.0.0.1 (token authentication on, as on a real cluster): the local engine's rows,
every input once, and the run says which nodes and actors made them. Only this test's
own nodes are stopped, by their process ids."""

from __future__ import annotations

import subprocess
import sys

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
