"""Batch inputs and outputs that used to crash, lose rows or print tracebacks: CSV cells
larger than the csv module's field limit, huge names in Parquet, NUL bytes, padded names,
a disk full before the first row, and model files whose tail LightGBM's reader trips on."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys

import pandas as pd
import pytest
from conftest import encode
from typer.testing import CliRunner

from photoqc.cli import app

runner = CliRunner()
FAST = ["-s", "none", "--no-nima", "--offline"]


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _read(path) -> pd.DataFrame:
    if str(path).endswith(".parquet"):
        return pd.read_parquet(path)
    return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"image": str})


@pytest.fixture
def listing(tmp_path, astronaut):
    """A CSV of two photos and three hostile cells: a 200 KB name, a NUL byte, a padded name."""
    (tmp_path / "a.jpg").write_bytes(encode(astronaut[::2, ::2], "JPEG", quality=85))
    (tmp_path / "b.png").write_bytes(encode(astronaut[::4, ::4]))
    names = ["a.jpg", "x" * 200_000 + ".jpg", "nul\x00byte.jpg", "  b.png  ", "b.png"]
    path = tmp_path / "listing.csv"
    pd.DataFrame({"image": names}).to_csv(path, index=False)
    return path, names


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_features_of_hostile_cells_finish_and_resume(listing, tmp_path, suffix):
    path, names = listing
    out = tmp_path / f"f{suffix}"
    first = _run("features", path, "-o", out, *FAST)
    assert first.exit_code == 0, first.output
    assert "Traceback" not in first.output
    table = _read(out)
    assert list(table["image"]) == names  # every value exactly as written, spaces included
    by_name = dict(zip(table["image"], table["error"].fillna(""), strict=True))
    assert by_name[names[1]].startswith("path too long (200,004 characters")
    assert by_name[names[2]] == "the path holds a NUL byte, which no file name can"
    assert by_name["  b.png  "] == "" and by_name["a.jpg"] == ""  # the padded name reads b.png
    again = _run("features", path, "-o", out, *FAST)  # a finished table is made again, whole
    assert again.exit_code == 0, again.output
    assert list(_read(out)["image"]) == names


def test_score_resumes_past_a_200_kb_cell_without_rescoring(listing, tmp_path):
    path, names = listing
    out = tmp_path / "s.csv"
    first = _run("score", path, "-o", out, "--offline")
    assert first.exit_code == 0, first.output
    again = _run("score", path, "-o", out, "--offline")
    assert again.exit_code == 0, again.output
    assert "0 scored now" in again.output and f"{len(names)} already there" in again.output
    assert "half-written" not in again.output
    assert list(_read(out)["image"]) == names


def test_a_10_mb_name_fits_in_a_parquet_table(tmp_path, astronaut):
    (tmp_path / "a.jpg").write_bytes(encode(astronaut[::4, ::4], "JPEG"))
    names = ["a.jpg", "y" * 10_000_000]
    path = tmp_path / "big.csv"
    pd.DataFrame({"image": names}).to_csv(path, index=False)
    result = _run("features", path, "-o", tmp_path / "f.parquet", *FAST)
    assert result.exit_code == 0, result.output
    table = _read(tmp_path / "f.parquet")
    assert len(table) == 2 and len(table["image"][1]) == 10_000_000


@pytest.mark.slow  # spawns processes
def test_a_disk_full_before_the_first_row_is_one_line_and_leaves_no_lock(tmp_path, astronaut):
    import resource

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_bytes(encode(astronaut[::4, ::4], "JPEG"))
    out = tmp_path / "s.csv"

    def full_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # every write fails (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    result = subprocess.run(
        [sys.executable, "-m", "photoqc.cli", "score", str(tmp_path / "in"), "-o", str(out),
         "--offline"],
        capture_output=True, text=True, preexec_fn=full_disk, timeout=300,
    )  # fmt: skip
    said = " ".join(result.stderr.split())
    assert result.returncode == 1, said
    assert f"cannot write {out}" in said and "Traceback" not in said
    assert not (tmp_path / f".{out.name}.lock").exists()


@pytest.fixture
def model(tmp_path):
    from photoqc.models.bundle import default_model_dir

    folder = tmp_path / "model"
    shutil.copytree(default_model_dir(), folder)
    return folder


@pytest.mark.parametrize(
    "tail",
    [
        "pandas_categorical:" + "[" * 100_000 + "]" * 100_000,
        "pandas_categorical:[[not json",
        "parameters:\n[objective: binary]\n{nested: {deep}}\nend of parameters",
    ],
    ids=["nested", "malformed", "parameters"],
)
def test_a_model_whose_tail_trips_lightgbm_s_reader_is_refused_in_one_line(model, tmp_path, tail):
    from photoqc.models.bundle import load_bundle, write_meta

    text = (model / "model.txt").read_text()
    head = text[: text.index("end of trees") + len("end of trees")]
    (model / "model.txt").write_text(f"{head}\n\n{tail}\n")
    meta = json.loads((model / "photoqc.json").read_text())
    import hashlib

    meta["model_sha256"] = hashlib.sha256((model / "model.txt").read_bytes()).hexdigest()
    write_meta(model, meta)  # re-signed, as a careful forger would
    (tmp_path / "in").mkdir()
    result = _run("explain", os.devnull, "--model", model)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "RecursionError" not in result.output
    with pytest.raises(Exception, match=re.escape("not a model photoqc can use")):
        load_bundle(model)
    assert len(lines) <= 3
