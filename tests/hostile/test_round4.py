"""The fourth hostile audit's holes (issue 45), each reproduced first: a planted, linked,
FIFO or world-writable graph in the cache is never used (and never hangs a run); a
network that fails makes its photos error rows, never a verdict made without it."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from concurrent.futures import Future

import numpy as np
import pytest
from conftest import encode

from photoqc.models.networks._graph_cache import cached_graph


def built() -> bytes:
    return b"the graph photoqc builds " * 100


@pytest.fixture
def graphs(tmp_path):
    folder = tmp_path / "cache" / "graphs"
    return folder


def _path(folder):
    return folder / f"nima-{'k' * 40}.onnx"


def test_a_graph_built_once_is_read_back_and_the_folder_is_private(graphs):
    calls = []

    def build():
        calls.append(1)
        return built()

    assert cached_graph("nima", "k" * 64, build, folder=graphs) == built()
    assert cached_graph("nima", "k" * 64, build, folder=graphs) == built()
    assert len(calls) == 1
    assert graphs.stat().st_mode & 0o777 == 0o700
    recorded = _path(graphs).with_suffix(".sha256").read_text()
    assert recorded == hashlib.sha256(built()).hexdigest()


def test_a_planted_graph_with_other_weights_is_built_again(graphs, caplog):
    cached_graph("nima", "k" * 64, built, folder=graphs)
    _path(graphs).write_bytes(b"zeroed weights " * 100)  # a valid file, other content
    with caplog.at_level(logging.WARNING):
        assert cached_graph("nima", "k" * 64, built, folder=graphs) == built()
    assert "not the one photoqc built" in caplog.text
    assert _path(graphs).read_bytes() == built()  # replaced


def test_a_planted_graph_with_its_own_checksum_in_a_shared_folder_is_not_used(graphs, caplog):
    graphs.mkdir(parents=True)
    os.chmod(graphs, 0o777)  # a world-writable cache folder: anyone can plant both files
    planted = b"planted " * 100
    _path(graphs).write_bytes(planted)
    _path(graphs).with_suffix(".sha256").write_text(hashlib.sha256(planted).hexdigest())
    with caplog.at_level(logging.WARNING):
        assert cached_graph("nima", "k" * 64, built, folder=graphs) == built()
    assert "writable by others" in caplog.text


def test_a_graph_writable_by_others_is_not_used(graphs, caplog):
    cached_graph("nima", "k" * 64, built, folder=graphs)
    os.chmod(_path(graphs), 0o666)
    with caplog.at_level(logging.WARNING):
        assert cached_graph("nima", "k" * 64, built, folder=graphs) == built()
    assert "writable by others" in caplog.text


def test_a_fifo_or_a_link_to_dev_zero_at_the_cache_path_neither_hangs_nor_is_read(graphs):
    graphs.mkdir(parents=True, mode=0o700)
    os.mkfifo(_path(graphs))
    result: list[bytes] = []
    worker = threading.Thread(
        target=lambda: result.append(cached_graph("nima", "k" * 64, built, folder=graphs)),
        daemon=True,
    )
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "reading the cache hung on a FIFO"
    assert result == [built()] and _path(graphs).is_file()
    _path(graphs).unlink()
    _path(graphs).symlink_to("/dev/zero")
    assert cached_graph("nima", "k" * 64, built, folder=graphs) == built()
    assert not _path(graphs).is_symlink()


class _FailingNetworks:
    """A NIMA batcher whose networks fail on every batch (a graph whose output has the
    wrong shape raised 'cannot reshape array of size 5 into shape (10)')."""

    class predictor:  # what the extractor reads off a batcher
        @staticmethod
        def provenance() -> str:
            return "nima (failing)"

    def submit(self, images):
        future: Future = Future()
        future.set_exception(ValueError("cannot reshape array of size 5 into shape (10)"))
        return future

    def close(self):
        pass


def test_a_network_that_fails_makes_error_rows_not_another_verdict(astronaut, chelsea):
    from photoqc.assess.extractor import FeatureExtractor
    from photoqc.assess.recipe import ExtractConfig, RecipeOptions

    config, _ = ExtractConfig.resolve(RecipeOptions(segmenter="fastcut", offline=True))
    assert config.nima_weights  # the shipped recipe runs the networks
    with FeatureExtractor(config, False, _FailingNetworks()) as extractor:
        rows = extractor.rows([encode(astronaut), encode(chelsea)])
    assert [r["status"] for r in rows] == ["error", "error"]
    assert all("networks could not run" in r["error"] for r in rows)
    assert all("cannot reshape" in r["error"] for r in rows)
    assert all(not np.isfinite(r.get("p_good", np.nan)) for r in rows)


def test_a_model_folder_without_its_sha256_is_refused(tmp_path):
    import json
    import shutil

    from photoqc.models.bundle import BundleError, default_model_dir, load_bundle

    folder = tmp_path / "model"
    shutil.copytree(default_model_dir(), folder)
    meta = json.loads((folder / "photoqc.json").read_text())
    del meta["sha256"]
    meta["threshold"] = 0.01  # what removing the checksum let through
    (folder / "photoqc.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="carries no sha256"):
        load_bundle(folder)


def test_a_pinned_model_sha256_refuses_every_other_folder(tmp_path, astronaut):
    import subprocess
    import sys

    from photoqc.models.bundle import default_model_dir, load_bundle

    shipped = load_bundle(default_model_dir()).meta["sha256"]
    assert load_bundle(default_model_dir(), expected_sha256=shipped.upper()).meta["sha256"]
    photo = tmp_path / "a.png"
    photo.write_bytes(encode(astronaut[::2, ::2]))

    def score(pin):
        return subprocess.run(
            [sys.executable, "-m", "photoqc.cli", "score", str(photo), "--out",
             str(tmp_path / f"{pin[:4]}.csv"), "--model-sha256", pin],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    wrong = score("0" * 64)
    assert wrong.returncode == 1
    assert "not the pinned" in " ".join(wrong.stderr.split())
    assert "Traceback" not in wrong.stderr
    right = score(shipped)
    assert right.returncode == 0, right.stderr[-2000:]


@pytest.fixture
def silent_s3(monkeypatch):
    """A stand-in S3 endpoint on 127.0.0.1 that accepts connections and never answers,
    named by the machine's configuration (AWS_ENDPOINT_URL), with fake credentials."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted = []

    def accept():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            accepted.append(connection)

    threading.Thread(target=accept, daemon=True).start()
    port = server.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPHOTOQCTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    monkeypatch.setenv("PHOTOQC_REMOTE_TIMEOUT_S", "1.5")
    yield accepted
    server.close()
    for connection in accepted:
        connection.close()


def test_a_remote_endpoint_that_never_answers_costs_one_error_row_within_the_deadline(
    silent_s3,
):
    import time

    from photoqc.images import ImageLoadError, load_image

    started = time.monotonic()
    with pytest.raises(
        ImageLoadError, match=r"no complete answer within 1.5 s|Timeout was reached"
    ):
        load_image("s3://bucket/photo.jpg")
    assert time.monotonic() - started < 4
    assert silent_s3  # it did connect to the configured endpoint


@pytest.mark.parametrize(
    "uri, refusal",
    [
        ("s3://bucket/a.jpg?endpoint_override=127.0.0.1:9&scheme=http", "query string"),
        ("s3://AKIA:secret@bucket/a.jpg", "user, password"),
        ("s3://bucket:9000/a.jpg", "port"),
        ("s3://bucket/a.jpg#x", "fragment"),
        ("abfs://container@127.0.0.1/photo.jpg", "Azure"),
        ("hdfs://namenode/photo.jpg", "Java VM"),
    ],
)
def test_a_uri_that_could_redirect_the_read_is_refused_before_any_connection(
    silent_s3, uri, refusal
):
    from photoqc.images import ImageLoadError, load_image

    with pytest.raises(ImageLoadError, match=refusal):
        load_image(uri)
    assert not silent_s3  # nothing was asked of any endpoint


def test_gs_without_credentials_or_network_is_an_error_row_within_the_deadline(monkeypatch):
    import time

    from photoqc.images import ImageLoadError, load_image

    monkeypatch.setenv("PHOTOQC_REMOTE_TIMEOUT_S", "1.5")
    started = time.monotonic()
    with pytest.raises(ImageLoadError):
        load_image("gs://bucket/photo.jpg")
    assert time.monotonic() - started < 4


def test_an_azure_row_beside_a_good_photo_is_one_error_row_the_batch_lives(tmp_path, astronaut):
    import subprocess
    import sys

    import pandas as pd

    (tmp_path / "good.png").write_bytes(encode(astronaut[::2, ::2]))
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(
        {"image": ["good.png", "abfs://container@127.0.0.1/photo.jpg", "s3://b/x.jpg?a=1"]}
    ).to_csv(manifest, index=False)
    done = subprocess.run(
        [sys.executable, "-m", "photoqc.cli", "score", str(manifest), "--out",
         str(tmp_path / "scores.csv"), "--workers", "1", "--remote-timeout-s", "2"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = pd.read_csv(tmp_path / "scores.csv").set_index("image")
    assert rows.loc["good.png", "status"] == "ok"
    assert "Azure" in rows.loc["abfs://container@127.0.0.1/photo.jpg", "error"]
    assert "query string" in rows.loc["s3://b/x.jpg?a=1", "error"]


def scan_bomb(photo: np.ndarray, scans: int) -> bytes:
    """A progressive JPEG whose last scan is repeated until it has ``scans`` of them."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=80, progressive=True)
    data = buffer.getvalue()
    last = data.rfind(b"\xff\xda")
    body, end = data[last:-2], data[-2:]
    have = data.count(b"\xff\xda")
    return data[:-2] + body * (scans - have) + end


def test_a_progressive_jpeg_with_too_many_scans_is_refused_undecoded(astronaut):
    import time

    from photoqc.images import MAX_JPEG_SCANS, ImageLoadError, load_image

    normal = scan_bomb(astronaut, 12)
    assert load_image(normal).pixels.shape == astronaut.shape
    bomb = scan_bomb(astronaut, 1000)
    started = time.monotonic()
    with pytest.raises(ImageLoadError, match=f"1000 scans \\(at most {MAX_JPEG_SCANS}"):
        load_image(bomb)
    assert time.monotonic() - started < 0.5


def test_a_jpeg_whose_bottom_is_exactly_libjpeg_s_fill_says_why_it_is_refused(astronaut):
    """A choice, said: a cut-short file and a photo whose bottom rows are exactly
    (128, 128, 128) decode to the same pixels; both are refused, and the message says so."""
    from photoqc.images import ImageLoadError, load_image

    photo = astronaut.copy()
    photo[-96:] = 128
    with pytest.raises(ImageLoadError, match=r"photo whose bottom really is that grey"):
        load_image(encode(photo, "JPEG", quality=100, subsampling=0))
    photo[-96:] = 127  # one level off libjpeg's fill: a photo
    assert load_image(encode(photo, "JPEG", quality=100, subsampling=0)).pixels.shape == photo.shape


@pytest.mark.slow
def test_forty_slow_uploads_take_no_check_slot_and_scan_bombs_take_no_time(astronaut):
    import socket
    import time

    import httpx
    from conftest import ServeProcess

    running = ServeProcess("--read-timeout-s", "20")  # 18 check slots, 288 receiving
    try:
        photo = encode(astronaut[::2, ::2], "JPEG", quality=90)
        head = (
            "POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            f"Content-Length: {len(photo)}\r\n\r\n"
        ).encode()
        slow = []
        for _ in range(40):  # each sends a byte a second: 40 B/s in all
            sock = socket.create_connection(("127.0.0.1", running.port), timeout=10)
            sock.send(head)
            slow.append(sock)
        answered = []
        url = f"http://127.0.0.1:{running.port}/v1/check"
        deadline = time.monotonic() + 12
        with httpx.Client(timeout=30) as client:
            while time.monotonic() < deadline:
                for i, sock in enumerate(slow):
                    try:
                        sock.send(photo[len(answered) % 100 : len(answered) % 100 + 1])
                    except OSError:
                        slow[i] = sock
                response = client.post(url, content=photo, headers={"Content-Type": "image/jpeg"})
                answered.append(response.status_code)
            assert len(answered) >= 5 and set(answered) == {200}, answered
            for _ in range(2):
                bomb = client.post(
                    url,
                    content=scan_bomb(astronaut, 1000),
                    headers={"Content-Type": "image/jpeg"},
                )
                assert bomb.status_code in (400, 422) and "scans" in bomb.text, bomb.text
            started = time.monotonic()
            after = client.post(url, content=photo, headers={"Content-Type": "image/jpeg"})
            assert after.status_code == 200 and time.monotonic() - started < 2
    finally:
        for sock in slow:
            sock.close()
        running.stop()


def test_out_naming_a_fifo_is_refused_in_one_line_not_a_hang(tmp_path, astronaut):
    import subprocess
    import sys

    photo = tmp_path / "a.png"
    photo.write_bytes(encode(astronaut[::4, ::4]))
    os.mkfifo(tmp_path / "o.csv")
    done = subprocess.run(
        [sys.executable, "-m", "photoqc.cli", "score", str(photo),
         "--out", str(tmp_path / "o.csv")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "is a FIFO" in done.stderr and "Traceback" not in done.stderr


def test_a_read_only_file_system_is_one_line_not_a_traceback(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    from photoqc.pipelines.batch import outputs
    from photoqc.pipelines.batch.outputs import OutputError, OutputLock

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(outputs.os, "open", read_only)
    monkeypatch.setattr(Path, "unlink", read_only)
    with pytest.raises(OutputError, match="Read-only file system"), OutputLock(tmp_path / "x.csv"):
        pass


def test_an_animated_image_is_said_to_be_judged_by_its_first_frame(caplog):
    import io

    from PIL import Image

    from photoqc.images import load_image

    frames = [Image.fromarray(np.full((64, 64, 3), v, np.uint8)) for v in (0, 255)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    with caplog.at_level(logging.WARNING):
        loaded = load_image(buffer.getvalue())
    assert loaded.pixels.max() == 0  # the first frame, black
    assert "animated (2 frames): first frame judged" in caplog.text


def test_serving_beyond_loopback_without_a_key_is_warned(tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "photoqc.cli", "serve", "--host", "0.0.0.0",
         "--model", str(tmp_path / "no-model")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    said = " ".join(done.stderr.split())
    assert "serving on 0.0.0.0 without an API key" in said
    assert done.returncode != 0  # the missing model still stops it, after the warning


def test_ray_s_token_file_is_made_private(tmp_path):
    from photoqc.engines.ray import private_token

    token = tmp_path / "auth_token"
    token.write_text("secret")
    token.chmod(0o644)
    private_token(token)
    assert token.stat().st_mode & 0o777 == 0o600
