"""`photoqc score --engine ray`: the same rows as the local engine, on a local Ray with the
machine's cores, from folders, manifests and globs, resumable, bad files as error rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import psutil
import pytest
from conftest import encode
from typer.testing import CliRunner

from photoqc.cli import app

pytest.importorskip("ray", reason="ray not installed (pip install 'photoqc[ray]')")
pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut, chelsea, coffee):
    """Five good photos and the bad files a batch meets: corrupt, empty, a FIFO, a bomb."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for name, photo in (("astronaut", astronaut), ("chelsea", chelsea), ("coffee", coffee)):
        (folder / f"{name}.jpg").write_bytes(encode(photo, "JPEG", quality=90))
    (folder / "astronaut_small.png").write_bytes(encode(astronaut[::2, ::2]))
    (folder / "noisy.jpg").write_bytes(
        encode(np.clip(coffee + rng.normal(0, 40, coffee.shape), 0, 255).astype(np.uint8), "JPEG")
    )
    (folder / "corrupt.jpg").write_bytes(rng.bytes(4000))
    (folder / "empty.jpg").write_bytes(b"")
    os.mkfifo(folder / "pipe.jpg")
    big = np.zeros((2100, 2100, 3), np.uint8)  # over the --max-pixels of the runs below
    (folder / "bomb.png").write_bytes(encode(big))
    return folder


def _score(source, out, *extra):
    result = runner.invoke(
        app, ["score", str(source), "--out", str(out), "--max-pixels", "4000000", *extra]
    )
    assert result.exit_code == 0, result.output
    return result


def _by_image(table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index("image").sort_index()


def test_ray_rows_equal_the_local_engine_s_and_resume(photos, tmp_path, monkeypatch):
    # A local Ray gets the machine's cores: two, as on the smallest machine photoqc runs on
    # (actors at 0.5 CPU each leave room for Ray's own work; 1 CPU each would stall).
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    local = tmp_path / "local.csv"
    _score(photos, local)
    expected = _by_image(pd.read_csv(local, keep_default_na=False, na_values=[""]))
    assert len(expected) == 9 and (expected["status"] == "error").sum() == 4

    # A first Ray run on part of the photos (a Parquet manifest), then all of them (a glob):
    # the second scores only the rest.
    out = tmp_path / "ray_out"
    part = tmp_path / "part.parquet"
    pd.DataFrame({"image": sorted(str(p) for p in photos.glob("*"))[:4]}).to_parquet(part)
    first = _score(part, out, "--engine", "ray")
    assert "4 scored now" in first.output
    # In waves of 2 batches of 1: the driver hands Ray three datasets in turn.
    monkeypatch.setattr("photoqc.engines.ray.WAVE_BATCHES", 2)
    second = _score(f"{photos}/*", out, "--engine", "ray", "--ray-actors", "2", "--batch-size", "1")
    assert "5 scored now" in second.output and "4 already there" in second.output

    got = _by_image(pd.read_parquet(out))
    assert got.index.is_unique and list(got.index) == list(expected.index)
    assert list(pd.read_parquet(out).columns) == list(pd.read_csv(local, nrows=0).columns)
    ok = expected["status"] == "ok"
    # Ray's actors batch other photos together than the local engine: a photo's value
    # does not depend on its neighbours (the heads work row by row).
    np.testing.assert_array_equal(got.loc[ok, "p_good"], expected.loc[ok, "p_good"])
    for column in ("status", "verdict", "reasons", "reasons_json", "error", "model_sha256"):
        assert got[column].fillna("").tolist() == expected[column].fillna("").tolist(), column
    errors = got.loc[~ok, "error"]
    assert errors.str.contains("FIFO").any() and errors.str.contains("image too large").any()


def test_ray_refuses_a_csv_out_and_a_local_run_refuses_a_folder(photos, tmp_path):
    result = runner.invoke(
        app, ["score", str(photos), "--out", str(tmp_path / "s.csv"), "--engine", "ray"]
    )
    assert result.exit_code == 2 and "folder of Parquet parts" in result.output
    (tmp_path / "folder").mkdir()
    result = runner.invoke(app, ["score", str(photos), "--out", str(tmp_path / "folder")])
    assert result.exit_code == 2 and "writes a CSV file" in result.output


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "photoqc.cli", *map(str, args)]


@pytest.fixture(scope="module")
def many(tmp_path_factory, astronaut, coffee, chelsea):
    """30 distinct photos (crops of scikit-image's) and two broken files."""
    folder = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(1)
    sources = [astronaut, coffee, chelsea]
    for k in range(30):
        photo = sources[k % 3]
        h, w = photo.shape[:2]
        y, x = rng.integers(0, h - 256), rng.integers(0, w - 256)
        (folder / f"p{k:02d}.jpg").write_bytes(encode(photo[y : y + 256, x : x + 256], "JPEG"))
    (folder / "corrupt.jpg").write_bytes(rng.bytes(5000))
    (folder / "empty.jpg").write_bytes(b"")
    return folder


def _parts(out) -> list:
    return sorted(out.glob("part-*.parquet")) if out.is_dir() else []


def test_a_killed_driver_reruns_to_exactly_one_row_per_input(many, tmp_path):
    out = tmp_path / "scores"
    args = ["score", many, "--out", out, "--engine", "ray", "--part-rows", "4", "--batch-size", "2",
            "--ray-cpus", "2"]  # fmt: skip
    driver = subprocess.Popen(
        _cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 150
    while len(_parts(out)) < 2 and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.2)
    assert driver.poll() is None, driver.stderr.read().decode()
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started
    driver.wait()
    kept = len(pd.read_parquet(out))
    assert 0 < kept < 32
    rerun = subprocess.run(_cli(*args), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{kept} already there" in " ".join(rerun.stderr.split())
    table = pd.read_parquet(out)
    assert len(table) == 32 and table["image"].is_unique


def test_a_worker_killed_mid_run_is_retried_and_loses_no_row(many, tmp_path):
    out = tmp_path / "scores"
    args = ["score", many, "--out", out, "--engine", "ray", "--part-rows", "4", "--batch-size", "2",
            "--ray-cpus", "2"]  # fmt: skip
    driver = subprocess.Popen(
        _cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    killed = None
    deadline = time.monotonic() + 150
    while killed is None and time.monotonic() < deadline and driver.poll() is None:
        if _parts(out):  # scoring has begun: kill one scoring actor outright
            for process in psutil.process_iter(["cmdline"]):
                if any("MapWorker" in part for part in process.info["cmdline"] or []):
                    process.kill()
                    killed = process.pid
                    break
        time.sleep(0.1)
    assert killed is not None, "no scoring actor was found to kill"
    stderr = driver.communicate(timeout=300)[1].decode()
    assert driver.returncode == 0, stderr
    table = pd.read_parquet(out)
    assert len(table) == 32 and table["image"].is_unique
    assert (table["status"] == "error").sum() == 2


def test_an_address_where_nothing_listens_is_refused_in_one_line(many, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    result = runner.invoke(
        app,
        ["score", str(many), "--out", str(tmp_path / "o"), "--engine", "ray",
         "--ray-address", f"ray://127.0.0.1:{port}"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert f"nothing listens at ray://127.0.0.1:{port}" in result.output
    assert time.monotonic() - started < 30
