"""The reliability suite: inputs, names, model folders and other processes that try to lose,
duplicate or hang a batch. Each test reproduces an attack found in an audit of
``features``, ``score``, ``explain`` and ``report``, then pins down the behaviour."""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import encode
from PIL import Image
from typer.testing import CliRunner

from photoqc.cli import app
from photoqc.images import ImageLoadError, load_image

runner = CliRunner()
FAST = ["-s", "none", "--no-nima", "--offline"]


def _run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _features(folder, out, *extra):
    return _run("features", folder, "-o", out, *FAST, *extra)


def _read(out: Path) -> pd.DataFrame:
    return pd.read_csv(out, keep_default_na=False, na_values=[""], dtype={"image": str})


@pytest.fixture
def photo_bytes(astronaut) -> bytes:
    return encode(astronaut[::2, ::2], "JPEG", quality=85)


# --- 1. file names ------------------------------------------------------------------------


def test_a_name_that_is_not_utf8_gets_its_own_row_with_an_escaped_path(tmp_path, photo_bytes):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "plain.jpg").write_bytes(photo_bytes)
    raw = os.path.join(os.fsencode(folder), b"caf\xe9-\xff.jpg")
    with open(raw, "wb") as handle:
        handle.write(photo_bytes)
    for suffix in (".csv", ".parquet"):
        out = tmp_path / f"f{suffix}"
        result = _features(folder, out)
        assert result.exit_code == 0, result.output
        table = _read(out) if suffix == ".csv" else pd.read_parquet(out)
        assert len(table) == 2 and (table["status"] == "ok").all()
        odd = [name for name in table["image"] if "caf" in name]
        assert odd == [str(folder / "caf\\xe9-\\xff.jpg")]


def test_names_with_newlines_are_recognised_on_every_resume(demo_run, tmp_path, photo_bytes):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("two\nlines.jpg", "carriage\rreturn.jpg", "plain.jpg", 'quote",comma.jpg'):
        (folder / name).write_bytes(photo_bytes)
    out = tmp_path / "s.csv"
    for attempt in range(3):
        result = _run("score", folder, "--model", demo_run.model_dir, "--out", out, "--offline")
        assert result.exit_code == 0, result.output
        table = _read(out)
        assert len(table) == 4 and table["image"].is_unique, attempt
        assert f"{4 if attempt else 0} already there" in result.output
    assert str(folder / "two\nlines.jpg") in set(table["image"])
    # A kill in the middle of a quoted name leaves an open quote: cut, and redone.
    with out.open("a", encoding="utf-8") as handle:
        handle.write(f'"{folder}/two\nli')
    result = _run("score", folder, "--model", demo_run.model_dir, "--out", out, "--offline")
    assert result.exit_code == 0, result.output
    assert len(_read(out)) == 4


def test_resuming_with_the_folder_spelled_another_way_finds_the_rows(
    demo_run, tmp_path, photo_bytes, monkeypatch
):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        (folder / f"p{i}.jpg").write_bytes(photo_bytes)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "s.csv"
    for spelling in ("photos", "./photos/", str(folder), "photos/../photos"):
        result = _run("score", spelling, "--model", demo_run.model_dir, "--out", out, "--offline")
        assert result.exit_code == 0, (spelling, result.output)
        assert len(_read(out)) == 3, spelling


# --- 2. special files ---------------------------------------------------------------------


def test_fifos_sockets_devices_and_proc_files_are_refused_without_opening(tmp_path, photo_bytes):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "real.jpg").write_bytes(photo_bytes)
    os.mkfifo(folder / "pipe.jpg")  # opening it would block forever
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / "sock.png"))
    (folder / "zero.jpg").symlink_to("/dev/zero")  # reading it would never end
    (folder / "status.png").symlink_to("/proc/self/status")
    out = tmp_path / "f.csv"
    started = time.monotonic()
    result = _features(folder, out)
    server.close()
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 60
    table = _read(out).set_index(_read(out)["image"].map(lambda s: Path(s).name))
    assert table.loc["real.jpg", "status"] == "ok"
    assert "FIFO" in table.loc["pipe.jpg", "error"]
    assert "socket" in table.loc["sock.png", "error"]
    assert "character device" in table.loc["zero.jpg", "error"]
    assert "system file" in table.loc["status.png", "error"]


def test_folder_walks_never_skip_silently(tmp_path, photo_bytes, monkeypatch):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "locked").mkdir()
    (folder / "a.jpg").write_bytes(photo_bytes)
    (folder / "sub" / "b.jpg").write_bytes(photo_bytes)
    (folder / "sub" / "back").symlink_to(folder)  # a loop
    (folder / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (folder / "self.jpg").symlink_to(folder / "self.jpg")
    (folder / "fake.jpg").write_text("plain text with a photo's name")
    # Root reads every folder; refuse the one listing as an unreadable folder would.
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    out = tmp_path / "f.csv"
    result = _features(folder, out)
    assert result.exit_code == 0, result.output
    assert "1 folder(s) could not be read" in result.output and "locked" in result.output
    assert "1 symbolic link(s) lead back" in result.output
    table = _read(out)
    errors = dict(zip(table["image"].map(lambda s: Path(s).name), table["error"], strict=True))
    assert len(table) == 5
    assert "broken symbolic link" in errors["gone.jpg"]
    assert "symbolic link loop" in errors["self.jpg"]
    assert "not a recognised image format" in errors["fake.jpg"]


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_heic_and_avif_photos_decode(tmp_path, astronaut, fmt):
    buffer = io.BytesIO()
    Image.fromarray(astronaut).save(buffer, fmt, quality=90)
    image = load_image(buffer.getvalue())
    assert image.format == fmt and image.pixels.shape == astronaut.shape
    difference = np.abs(image.pixels.astype(int) - astronaut.astype(int)).mean()
    assert difference < 6, difference


# --- 3. corrupt but decodable ---------------------------------------------------------------


def test_a_jpeg_whose_data_ran_out_is_an_error_not_a_grey_band(tmp_path, photo_bytes):
    cut = photo_bytes[: len(photo_bytes) // 2] + b"\xff\xd9"  # truncated, then "end of image"
    tall = bytearray(photo_bytes)
    sof = tall.find(b"\xff\xc0")
    height = int.from_bytes(tall[sof + 5 : sof + 7], "big")
    tall[sof + 5 : sof + 7] = (height * 2).to_bytes(2, "big")  # claims twice the rows it has
    for data in (cut, bytes(tall)):
        with pytest.raises(ImageLoadError, match=r"truncated or corrupt image data.*no image data"):
            load_image(data)
    flat = encode(np.full((64, 64, 3), 128, np.uint8), "JPEG")
    assert load_image(flat).pixels.shape == (64, 64, 3)  # grey all over is a photo


def _png_with_chunk(kind: bytes, data: bytes, image) -> bytes:
    png = encode(image)
    chunk = len(data).to_bytes(4, "big") + kind + data
    chunk += zlib.crc32(kind + data).to_bytes(4, "big")
    return png[:33] + chunk + png[33:]  # after the signature and IHDR


def test_png_metadata_over_pillows_limit_is_one_line_without_traceback(tmp_path, caplog):
    huge = b"Comment\x00\x00" + zlib.compress(b"a" * (40 << 20))  # 40 MB of text
    data = _png_with_chunk(b"zTXt", huge, np.zeros((8, 8, 3), np.uint8))
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "meta.png").write_bytes(data)
    out = tmp_path / "f.csv"
    result = _features(folder, out)
    assert result.exit_code == 0, result.output
    (error,) = _read(out)["error"]
    assert error.startswith("cannot decode header") and "\n" not in error
    assert "Traceback" not in result.output and "Traceback" not in caplog.text


# --- 4. one writer per output; atomic tables; full disks ------------------------------------


@pytest.fixture
def photos(tmp_path, photo_bytes) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(24):
        (folder / f"p{i:02d}.jpg").write_bytes(photo_bytes)
    return folder


@pytest.fixture
def long_run(tmp_path, photo_bytes) -> Path:
    """Photos enough that a run signalled after its second row is still running (24 could
    all be scored between two looks on a quick machine: the signal then came too late)."""
    folder = tmp_path / "long"
    folder.mkdir()
    for i in range(LONG_RUN):
        (folder / f"p{i:03d}.jpg").write_bytes(photo_bytes)
    return folder


LONG_RUN = 240


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "photoqc.cli", *[str(a) for a in args], "--offline"]


def test_a_second_process_on_the_same_output_is_refused(demo_run, photos, tmp_path):
    out = tmp_path / "s.csv"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from photoqc.pipelines.batch.outputs import OutputLock\n"
            "OutputLock(sys.argv[1]).__enter__()\n"
            "print('locked', flush=True)\n"
            "time.sleep(120)\n",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = _run("score", photos, "--model", demo_run.model_dir, "--out", out, "--offline")
        assert result.exit_code == 1
        assert f"being written by another photoqc process (pid {holder.pid})" in result.output
        assert not out.exists()
        result = _features(photos, out)
        assert result.exit_code == 1 and "another photoqc process" in result.output
    finally:
        holder.kill()
        holder.wait()
    # The lock went with the process that held it.
    assert _features(photos, out).exit_code == 0


def _wait_for(condition, seconds: float = 120.0, process=None) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"the process ended first (exit code {process.returncode})")
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        time.sleep(0.05)


def _rows(path: Path) -> int:
    return len(_read(path)) if path.exists() and path.stat().st_size else 0


@pytest.mark.slow
def test_features_writes_whole_tables_and_a_killed_run_resumes(photos, tmp_path):
    from photoqc.pipelines.batch.outputs import journal_path

    out = tmp_path / "f.parquet"
    out.write_bytes(b"the table of an earlier run")
    journal = journal_path(out)
    process = subprocess.Popen(
        _cli("features", photos, "-o", out, *FAST, "--batch-size", "1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for(lambda: _rows(journal) >= 3, process=process)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert out.read_bytes() == b"the table of an earlier run", "never a half-written table"
    kept = _rows(journal)
    assert 3 <= kept < 24
    result = _features(photos, out)
    assert result.exit_code == 0, result.output
    assert f"{kept} from the interrupted run" in result.output
    table = pd.read_parquet(out)
    assert len(table) == 24 and table["image"].is_unique and (table["status"] == "ok").all()
    assert list(table["image"]) == sorted(table["image"]), "input order"
    assert not journal.exists()


def test_a_full_disk_while_scoring_is_one_line_and_the_run_resumes(demo_run, photos, tmp_path):
    import resource

    out = tmp_path / "s.csv"
    limit = 40_000  # bytes: the header and a few batches of rows

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        [*_cli("score", photos, "-m", demo_run.model_dir, "-o", out), "--batch-size", "2"],
        capture_output=True,
        text=True,
        preexec_fn=small_disk,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert f"cannot write {out}" in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.stderr
    kept = _rows(out)
    assert 0 < kept < 24
    result = _run("score", photos, "--model", demo_run.model_dir, "--out", out, "--offline")
    assert result.exit_code == 0, result.output
    table = _read(out)
    assert len(table) == 24 and table["image"].is_unique


# --- 5. workers die with their parent; Ctrl-C ---------------------------------------------


def _start_scoring(demo_run, photos, out) -> subprocess.Popen:
    return subprocess.Popen(
        [*_cli("score", photos, "-m", demo_run.model_dir, "-o", out, "-w", 2), "--batch-size", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _workers(process: subprocess.Popen) -> list:
    """The main process's live worker processes."""
    psutil = pytest.importorskip("psutil")
    found = []
    for child in psutil.Process(process.pid).children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:  # ended (or a zombie) while we looked
            continue
    return found


def _gone(workers) -> bool:
    psutil = pytest.importorskip("psutil")
    for worker in workers:
        try:
            if worker.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_workers_never_outlive_the_main_process(demo_run, long_run, tmp_path, stop):
    out = tmp_path / "s.csv"
    process = _start_scoring(demo_run, long_run, out)
    try:
        _wait_for(lambda: len(_workers(process)) >= 2 and _rows(out) >= 2, process=process)
        workers = _workers(process)
        process.send_signal(stop)
        _wait_for(lambda: _gone(workers), seconds=5)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if stop == signal.SIGTERM:
        assert process.returncode == 130 and "rows kept" in stderr, stderr


def test_ctrl_c_stops_within_seconds_and_says_how_to_resume(demo_run, long_run, tmp_path):
    out = tmp_path / "s.csv"
    process = _start_scoring(demo_run, long_run, out)
    try:
        _wait_for(lambda: len(_workers(process)) >= 2 and _rows(out) >= 2, process=process)
        os.killpg(process.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
        started = time.monotonic()
        _, stderr = process.communicate(timeout=30)
        assert time.monotonic() - started < 3.0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    said = " ".join(stderr.split())
    kept = _rows(out)
    assert process.returncode == 130
    assert f"interrupted: {kept} rows kept in {out}" in said
    assert "run the same command again" in said and "Traceback" not in said
    assert 0 < kept < LONG_RUN
    result = _run("score", long_run, "--model", demo_run.model_dir, "--out", out, "--offline")
    assert result.exit_code == 0 and f"{kept} already there" in result.output
    assert len(_read(out)) == LONG_RUN and _read(out)["image"].is_unique


# --- 6. model folders are data ------------------------------------------------------------


@pytest.fixture
def model(demo_run, tmp_path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(demo_run.model_dir, folder)
    return folder


def _meta(folder: Path) -> dict:
    return json.loads((folder / "photoqc.json").read_text())


def _resign(folder: Path, meta: dict) -> None:
    """Write ``meta`` with both hashes made to match, as someone forging a folder would."""
    import hashlib

    from photoqc.models.bundle import signature

    model_bytes = (folder / "model.txt").read_bytes()
    meta["model_sha256"] = hashlib.sha256(model_bytes).hexdigest()
    meta["sha256"] = signature(meta, model_bytes)
    (folder / "photoqc.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"threshold": 0.0}, "threshold: Input should be greater than 0"),
        ({"threshold": 1.5}, "threshold: Input should be less than 1"),
        ({"threshold": "0.5"}, "threshold: Input should be a valid number"),
        ({"model_file": "../model.txt"}, "model_file: String should match pattern"),
        ({"model_file": "/etc/passwd"}, "model_file: String should match pattern"),
        ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
        ({"training": {"labels": {"deeper": [1, 2]}}}, "training.labels"),
        ({"feature_names": ["brightness", "rm -rf"]}, "feature_names.1"),
    ],
    ids=["zero", "above-one", "text", "dotdot", "absolute", "extra", "nested", "name"],
)
def test_every_field_of_the_description_is_checked(model, change, said):
    from photoqc.models.bundle import BundleError, load_bundle

    meta = _meta(model)
    meta.update(change)
    _resign(model, meta)
    with pytest.raises(BundleError) as info:
        load_bundle(model)
    assert said in str(info.value)


def test_every_problem_is_listed_and_limits_are_bounded(model):
    from photoqc.models.bundle import BundleError, load_bundle

    meta = _meta(model)
    meta["feature_config"]["max_pixels"] = 10**13
    meta["threshold_history"] = [{"threshold": 2}]
    _resign(model, meta)
    with pytest.raises(BundleError) as info:
        load_bundle(model)
    message = str(info.value)
    assert "feature_config.max_pixels: Input should be less than or equal to" in message
    assert "threshold_history.0.threshold" in message


def test_deep_or_huge_descriptions_and_models_are_refused_before_use(model):
    from photoqc.models.bundle import BundleError, load_bundle

    (model / "photoqc.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(BundleError, match=r"nested too deeply|MiB"):
        load_bundle(model)
    (model / "photoqc.json").write_text(
        '{"format": "photoqc-model", "x": "' + "a" * (9 << 20) + '"}'
    )
    with pytest.raises(BundleError, match="more than the 8 MiB"):
        load_bundle(model)


def test_a_huge_model_file_is_refused_from_its_size(model, demo_run):
    from photoqc.models.bundle import BundleError, load_bundle

    os.truncate(model / "model.txt", 300 << 20)  # sparse: no time or disk spent
    started = time.monotonic()
    with pytest.raises(BundleError, match=r"300\.0 MiB, more than the 256 MiB"):
        load_bundle(model)
    assert time.monotonic() - started < 2


def test_a_threshold_edited_by_hand_is_detected_and_tune_signs_its_own(model):
    from photoqc.models.bundle import BundleError, load_bundle
    from photoqc.pipelines.review.tune import write_threshold

    text = (model / "photoqc.json").read_text()
    threshold = _meta(model)["threshold"]
    (model / "photoqc.json").write_text(text.replace(repr(threshold), "0.01", 1))
    with pytest.raises(BundleError, match="changed after training or tuning"):
        load_bundle(model)
    (model / "photoqc.json").write_text(text)
    write_threshold(model, 0.42, "by the test")
    assert load_bundle(model).threshold == 0.42


def _tree_sizes(text: str) -> str:
    """``text`` with its tree_sizes made to match its trees, as a careful forger would."""
    starts = [m.start() for m in re.finditer(r"^Tree=", text, re.M)]
    bounds = [*starts, text.index("end of trees")]
    sizes = " ".join(str(b - a) for a, b in itertools.pairwise(bounds))
    return re.sub(r"^tree_sizes=.*$", f"tree_sizes={sizes}", text, count=1, flags=re.M)


def _forge(model: Path, edit) -> None:
    text = (model / "model.txt").read_text()
    (model / "model.txt").write_text(edit(text))
    _resign(model, _meta(model))


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (
            lambda t: _tree_sizes(re.sub(r"left_child=\d+", "left_child=99999", t, count=1)),
            "not a tree node",
        ),
        (
            lambda t: _tree_sizes(re.sub(r"split_feature=\d+", "split_feature=999", t, count=1)),
            "a split on a feature that does not exist",
        ),
        (lambda t: re.sub(r"tree_sizes=\d+", "tree_sizes=99999999", t, count=1), "tree_sizes"),
        (
            lambda t: _tree_sizes(t.replace("num_leaves=4", "num_leaves=2000000000", 1)),
            "num_leaves",
        ),
        (lambda t: t.replace("num_class=1", "num_class=7", 1), "num_class"),
        (lambda t: re.sub(r"right_child=(-?\d+)", r"right_child=\1", t), None),
    ],
    ids=["child", "feature", "tree-sizes", "leaves", "classes", "untouched"],
)
@pytest.mark.slow
def test_a_forged_model_file_never_reaches_lightgbm(model, tmp_path, photo_bytes, edit, said):
    # LightGBM aborts (SIGABRT) or segfaults on the first three and allocates without
    # bound on the fourth; scoring must refuse them with a message instead.
    _forge(model, edit)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(photo_bytes)
    result = subprocess.run(
        _cli("score", folder, "--model", model, "--out", tmp_path / "s.csv"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    said_out = " ".join(result.stderr.split())
    if said is None:
        assert result.returncode == 0, said_out
        return
    assert result.returncode == 1, said_out  # not -6 or -11: no crash
    assert "not a model photoqc can use" in said_out and said in said_out


# --- 7. the report ------------------------------------------------------------------------


HOSTILE = "<!--<script>alert(1)</script>\u2028\u2029&amp;"


@pytest.fixture
def hostile_scores(demo_run, tmp_path) -> Path:
    scores = pd.read_csv(demo_run.scores_csv, keep_default_na=False, dtype=str)
    scores.loc[0, "image"] = f'=HYPERLINK("x")-{HOSTILE}.jpg'
    scores.loc[0, ["status", "error"]] = ["error", HOSTILE]
    ok = scores.index[scores["status"] == "ok"]
    scores.loc[ok[0], "reasons_json"] = json.dumps(
        [{"family": HOSTILE, "text": HOSTILE, "feature": "x", "value": None, "typical": None}]
    )
    scores.loc[ok[1], "p_good"] = "inf"
    scores.loc[ok[2], "p_good"] = "nan"
    path = tmp_path / "hostile.csv"
    scores.to_csv(path, index=False)
    return path


def test_no_string_in_the_data_breaks_the_report(hostile_scores, tmp_path, browser):
    out = tmp_path / "r.html"
    result = _run("report", hostile_scores, "--out", out)
    assert result.exit_code == 0, result.output
    html = out.read_text()
    data = re.search(
        r'<script id="photoqc-data" type="application/json">(.*?)</script>', html, re.S
    )
    assert "<" not in data.group(1) and "\u2028" not in data.group(1)
    page = browser.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(out.as_uri())
    assert page.locator("tr.row").count() == min(len(pd.read_csv(hostile_scores)), 100)
    assert not dialogs, "no script from the data ran"
    rows = json.loads(data.group(1))["rows"]
    assert rows[0]["error"] == HOSTILE and rows[0]["image"].endswith(f"{HOSTILE}.jpg")
    shown = page.locator("tr.row td:nth-child(4)").all_inner_texts()
    assert "inf" not in shown and "nan" not in shown and "NaN" not in shown


def test_marks_export_neutralises_spreadsheet_formulas(hostile_scores, tmp_path, browser):
    out = tmp_path / "r.html"
    assert _run("report", hostile_scores, "--out", out).exit_code == 0
    page = browser.new_context(accept_downloads=True).new_page()
    page.goto(out.as_uri())
    page.fill("#search", "HYPERLINK")
    page.locator("tr.row").first.locator("button.mark-bad").click()
    with page.expect_download() as download:
        page.click("#export")
    exported = tmp_path / "marks.csv"
    download.value.save_as(exported)
    line = exported.read_text().splitlines()[1]
    assert line.startswith("\"'=HYPERLINK") or line.startswith("'=HYPERLINK"), line


def test_an_infinite_split_threshold_is_lightgbm_s_own_and_accepted():
    """LightGBM writes ``inf`` for a split that sends every measured value one way and only
    missing ones the other (found by the full `photoqc demo`); NaN stays refused."""
    import lightgbm as lgb

    from photoqc.models.lightgbm_text import ModelTextError, check_model_text

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] > 0).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 4},
        lgb.Dataset(X, y, feature_name=["a", "b"]),
        num_boost_round=2,
    )
    text = booster.model_to_string()
    line = next(x for x in text.splitlines() if x.startswith("threshold="))
    first = line.split("=")[1].split(" ")[0]

    def with_threshold(value: str) -> str:
        # The header's tree_sizes counts each tree's bytes: keep it true.
        sizes = next(x for x in text.splitlines() if x.startswith("tree_sizes="))
        counts = [int(n) for n in sizes.split("=")[1].split(" ")]
        counts[0] += len(value) - len(first)
        edited = text.replace(line, line.replace(first, value, 1), 1)
        return edited.replace(sizes, "tree_sizes=" + " ".join(map(str, counts)), 1)

    assert check_model_text(with_threshold("inf"), ["a", "b"]) >= 1
    with pytest.raises(ModelTextError, match="not NaN"):
        check_model_text(with_threshold("nan"), ["a", "b"])
