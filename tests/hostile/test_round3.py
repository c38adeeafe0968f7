"""Round 3 of the hostile test: each hole found, reproduced, then held shut.

A 1-pixel-wide photo, a model folder with a 100,000-digit number, a group column named
like an output column, keep-alive clients trickling a body after an early answer, a
listing of twelve 64 MP photos, flat photos and mirrored copies as near-duplicates,
repeated part names, and libjpeg's warnings on stderr."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pandas as pd
import psutil
import pytest
from conftest import encode
from test_service import Service, _connect
from typer.testing import CliRunner

from photoqc.cli import app
from photoqc.models.bundle import default_model_dir

runner = CliRunner()


def _cli(*args: object, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "photoqc.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --- a photo too thin to measure --------------------------------------------------------------


@pytest.mark.slow  # spawns processes
def test_a_one_pixel_wide_photo_is_one_clear_error_row(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "strip.png").write_bytes(encode(np.full((60000, 1, 3), 120, np.uint8)))
    (folder / "ok.png").write_bytes(
        encode(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    )
    out = tmp_path / "s.csv"
    result = _cli("score", folder, "--out", out, "--offline")
    assert result.returncode == 0, result.stderr
    rows = pd.read_csv(out).set_index("image")
    strip = rows.loc[str(folder / "strip.png")]
    assert strip["status"] == "error"
    assert strip["error"].startswith("too thin to measure: 1x60000 pixels")
    assert "internal" not in strip["error"] and "OpenCV" not in strip["error"]
    assert rows.loc[str(folder / "ok.png"), "status"] == "ok"


# --- a model folder with a number too long for Python --------------------------------------


@pytest.fixture
def forged_model(tmp_path):
    folder = tmp_path / "forged"
    shutil.copytree(default_model_dir(), folder)
    meta = folder / "photoqc.json"
    text = meta.read_text()
    assert '"min_short_side": 400' in text
    meta.write_text(text.replace('"min_short_side": 400', '"min_short_side": ' + "9" * 100_000))
    return folder


@pytest.mark.parametrize("verb", ["explain", "serve"])
@pytest.mark.slow  # spawns processes
def test_a_100000_digit_number_in_a_model_folder_is_one_line(
    forged_model, astronaut, tmp_path, verb
):
    photo = tmp_path / "a.png"
    photo.write_bytes(encode(astronaut))
    args = ["explain", photo, "--model", forged_model] if verb == "explain" else [
        "serve", "--model", forged_model, "--port", "1"]  # fmt: skip
    result = _cli(*args, timeout=120)
    said = result.stderr.strip()
    assert result.returncode == 1, said
    assert "Traceback" not in said and len(said.splitlines()) == 1, said
    assert said.startswith("error: ") and "not valid JSON" in said and "photoqc.json" in said


# --- a group column named like one of the ranked table's own ---------------------------------


@pytest.mark.parametrize(
    "column", ["rank", "why", "is_cover", "cover_score", "duplicate_of", "image"]
)
def test_a_group_column_that_collides_with_an_output_column_is_refused(tmp_path, column):
    manifest = tmp_path / "m.csv"
    pd.DataFrame({"image": ["a.jpg"], column if column != "image" else "x": ["L1"]}).to_csv(
        manifest, index=False
    )
    out = tmp_path / "ranked.csv"
    result = runner.invoke(app, ["rank", str(manifest), "--group-by", column, "--out", str(out)])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"--group-by {column}: a ranked table has its own '{column}' column" in said
    assert not out.exists()


def test_a_scores_table_is_ranked_as_it_is_and_the_terminal_says_so(tmp_path, astronaut):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(encode(astronaut))
    manifest = tmp_path / "m.csv"
    pd.DataFrame({"image": ["in/a.png"], "listing": ["L1"]}).to_csv(manifest, index=False)
    scores = tmp_path / "scores.csv"
    result = runner.invoke(
        app, ["score", str(manifest), "--carry", "listing", "--out", str(scores)]
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "ranked.csv"
    result = runner.invoke(app, ["rank", str(scores), "--group-by", "listing", "--out", str(out)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "already holds scores (status, p_good, verdict): ranked from them as they are" in said
    assert pd.read_csv(out)["listing"].tolist() == ["L1"]


# --- near-duplicates: flat photos are not, mirrored copies are --------------------------------


def test_flat_photos_are_never_near_duplicates_and_mirrored_copies_are(tmp_path, astronaut, coffee):
    from photoqc.perceptual_hash import FLAT, photo_distance, photo_hashes

    black, white = np.zeros((300, 400, 3), np.uint8), np.full((300, 400, 3), 255, np.uint8)
    assert photo_hashes(black) is None and photo_hashes(white) is None
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    assert photo_distance(photo_hashes(astronaut), photo_hashes(mirrored)) == 0
    assert photo_distance(photo_hashes(astronaut), photo_hashes(coffee)) > 12
    folder = tmp_path / "in"
    folder.mkdir()
    for name, pixels in {"black": black, "white": white, "astro": astronaut,
                         "astro_mirrored": mirrored, "coffee": coffee}.items():  # fmt: skip
        (folder / f"{name}.png").write_bytes(encode(pixels))
    manifest = tmp_path / "m.csv"
    names = ["black", "white", "astro", "astro_mirrored", "coffee"]
    pd.DataFrame({"image": [f"in/{n}.png" for n in names], "listing": "L"}).to_csv(
        manifest, index=False
    )
    out = tmp_path / "ranked.csv"
    result = runner.invoke(app, ["rank", str(manifest), "--group-by", "listing", "--out", str(out)])
    assert result.exit_code == 0, result.output
    ranked = pd.read_csv(out, keep_default_na=False).set_index("image")
    flagged = {i for i, d in ranked["duplicate_of"].items() if d}
    assert len(flagged) == 1 and flagged <= {"in/astro.png", "in/astro_mirrored.png"}, flagged
    assert "2 photos too plain to compare for near-duplicates" in " ".join(result.output.split())
    scores = pd.read_csv(tmp_path / "ranked.scores.csv", keep_default_na=False)
    assert (scores.set_index("image").loc[["in/black.png", "in/white.png"], "phash"] == FLAT).all()


# --- libjpeg's warnings are not on stderr ------------------------------------------------------


@pytest.mark.slow  # spawns processes
def test_libjpeg_warnings_leave_stderr_and_the_photo_is_scored(tmp_path, astronaut):
    data = encode(astronaut, "JPEG", quality=90)
    at = data.index(b"\xff\xda")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "damaged.jpg").write_bytes(data[:at] + b"\x00\x13\x37" + data[at:])
    out = tmp_path / "s.csv"
    result = _cli("score", folder, "--out", out, "--offline")
    assert result.returncode == 0, result.stderr
    assert "Corrupt JPEG data" not in result.stderr and "scored now" in result.stderr
    assert pd.read_csv(out)["status"].tolist() == ["ok"]
    # The same file, decoded outside photoqc's command: libjpeg does say it (so the test
    # above is about photoqc keeping it off the terminal, not about a silent decoder).
    decode = f"import cv2, numpy as np; cv2.imdecode(np.fromfile({str(folder / 'damaged.jpg')!r}, np.uint8), 1)"  # noqa: E501
    plain = subprocess.run([sys.executable, "-c", decode], capture_output=True, text=True)
    assert "Corrupt JPEG data: 3 extraneous bytes" in plain.stderr


def test_the_stderr_filter_passes_everything_else_on_unchanged():
    import logging

    from photoqc import decoder_messages

    read_end, write_end = os.pipe()
    out_read, out_write = os.pipe()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    decoder_messages.logger.addHandler(handler)
    decoder_messages.logger.setLevel(logging.DEBUG)
    try:
        reader = threading.Thread(target=decoder_messages._forward, args=(read_end, out_write))
        reader.start()
        pieces = (
            b"\r  scoring 3/10",
            b"Corrupt JPEG data: 2 extraneous bytes before marker 0xd9\n",
            b"error: a.jpg: empty file\n",
            b"Premature end of JPEG file\nlast",
        )
        for piece in pieces:
            os.write(write_end, piece)
            time.sleep(0.05)
        os.close(write_end)
        reader.join(5)
        os.close(out_write)
        passed = os.read(out_read, 1 << 16)
    finally:
        decoder_messages.logger.removeHandler(handler)
        os.close(out_read)
    assert passed == b"\r  scoring 3/10error: a.jpg: empty file\nlast"
    assert [r.getMessage() for r in records] == [
        "decoder: Corrupt JPEG data: 2 extraneous bytes before marker 0xd9",
        "decoder: Premature end of JPEG file",
    ]


# --- the service ----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_service_answers_a_thin_photo_with_422_json():
    service = Service()
    try:
        response = httpx.post(
            service.url + "/v1/check",
            content=encode(np.full((60000, 1, 3), 120, np.uint8)),
            headers={"content-type": "image/png"},
            timeout=30,
        )
    finally:
        service.stop()
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "too_thin"
    assert response.json()["error"]["message"].startswith("too thin to measure: 1x60000 pixels")


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether the other end closed ``sock`` (readable, and nothing more to read)."""
    import select

    if not select.select([sock], [], [], 0)[0]:
        return False
    try:
        return sock.recv(1 << 16) == b""
    except OSError:
        return True


@pytest.mark.slow
def test_keep_alive_clients_trickling_after_an_early_answer_hold_nothing():
    service = Service("--read-timeout-s", "5", files=256)
    stop = threading.Event()
    let_go, heads = [], []

    def trickle() -> None:
        try:
            with _connect(service) as sock:
                sock.sendall(
                    b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n"
                )
                heads.append(sock.recv(4096).split(b"\r\n\r\n")[0].lower())
                while not stop.is_set():  # a byte a second of a body nobody reads
                    sock.sendall(b"x")
                    if _closed_by_peer(sock):
                        let_go.append(1)
                        return
                    time.sleep(1.0)
        except OSError:
            let_go.append(1)

    clients = [threading.Thread(target=trickle, daemon=True) for _ in range(80)]
    try:
        for client in clients:
            client.start()
        time.sleep(2.0)
        probes = []
        for _ in range(15):
            started = time.monotonic()
            try:
                status = httpx.get(service.url + "/healthz", timeout=2.0).status_code
            except httpx.TransportError:
                status = 0
            probes.append((status, round(time.monotonic() - started, 2)))
            time.sleep(0.5)
        connections = len(psutil.Process(service.process.pid).net_connections("tcp"))
    finally:
        stop.set()
        for client in clients:
            client.join(5)
        service.stop()
    assert all(status == 200 and took < 2.0 for status, took in probes), probes
    assert heads and all(b" 405 " in h and b"connection: close" in h for h in heads), heads[:2]
    assert len(let_go) >= 75, len(let_go)  # the service let them go
    assert connections < 40, connections


@pytest.mark.slow
def test_ranking_twelve_64_mp_photos_measures_one_at_a_time():
    service = Service("--max-photos", "12", "--timeout-s", "60")
    process = psutil.Process(service.process.pid)
    flat = encode(np.full((7990, 8000, 3), 128, np.uint8))  # small on the wire, 192 MB decoded
    files = [("images", (f"p{k}.png", flat, "image/png")) for k in range(12)]
    peak = [0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.02)

    try:
        httpx.get(service.url + "/healthz", timeout=5)
        time.sleep(1.0)
        idle = process.memory_info().rss
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        response = httpx.post(service.url + "/v1/rank", files=files, timeout=600)
        stop.set()
        watcher.join()
        time.sleep(3.0)
        after = process.memory_info().rss
    finally:
        service.stop()
    gb = 2**30
    assert response.status_code == 200, response.text
    assert len(response.json()["photos"]) == 12
    assert peak[0] - idle <= 1.2 * gb, (idle / gb, peak[0] / gb)
    assert after - idle <= 0.5 * gb, (idle / gb, after / gb)


@pytest.mark.slow
def test_parts_of_the_same_name_are_told_apart(astronaut):
    service = Service()
    photo = encode(astronaut, "JPEG", quality=90)
    files = [("images", ("x.jpg", photo, "image/jpeg")) for _ in range(3)]
    try:
        response = httpx.post(service.url + "/v1/rank", files=files, timeout=120)
    finally:
        service.stop()
    assert response.status_code == 200, response.text
    photos = response.json()["photos"]
    assert sorted(p["image"] for p in photos) == ["x.jpg", "x.jpg#2", "x.jpg#3"]
    duplicates = [p["duplicate_of"] for p in photos if p["duplicate_of"]]
    assert len(duplicates) == 2 and set(duplicates) <= {"x.jpg", "x.jpg#2", "x.jpg#3"}
    cover = next(p for p in photos if p["is_cover"])
    assert all(d == cover["image"] for d in duplicates)
