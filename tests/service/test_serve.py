"""`photoqc serve`: a real uvicorn server on a free localhost port, talked to over HTTP."""

from __future__ import annotations

import asyncio
import base64
import io
import math
import os
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from conftest import ServeProcess, encode
from PIL import Image

from photoqc.assess.recipe import RecipeOptions
from photoqc.assess.scorer import Scorer
from photoqc.models.bundle import default_model_dir
from photoqc.pipelines.batch.inputs import InputItem

Server = ServeProcess


@pytest.fixture(scope="module")
def server():
    running = Server("--max-upload-mb", "2", "--max-pixels", "4000000", "--queue", "4")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def photo_bytes(astronaut) -> bytes:
    return encode(astronaut, "JPEG", quality=90)


def _post(server, body: bytes, content_type: str = "image/jpeg", **kwargs) -> httpx.Response:
    headers = {"Content-Type": content_type, **kwargs.pop("headers", {})}
    return httpx.post(server.url + "/v1/check", content=body, headers=headers, timeout=30, **kwargs)


def test_a_photo_gets_a_verdict_with_the_same_p_good_as_photoqc_score(
    server, photo_bytes, tmp_path
):
    response = _post(server, photo_bytes)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["verdict"] in ("good", "bad") and 0 < answer["p_good"] < 1
    assert answer["segmenter"] == "fastcut"
    assert set(answer["model"]) == {"sha256", "trained_on"}
    assert answer["timing_ms"]["total"] >= answer["timing_ms"]["check"] > 0
    assert (answer["verdict"] == "good") == (answer["p_good"] >= answer["threshold"])
    for reason in answer["reasons"]:
        assert set(reason) == {"family", "text", "feature", "value", "typical"}
    # What `photoqc score` says of the same file, through the same pipeline owner.
    path = tmp_path / "a.jpg"
    path.write_bytes(photo_bytes)
    scorer, _ = Scorer.from_model(default_model_dir(), RecipeOptions(offline=True))
    (row,) = scorer.rows([InputItem(str(path), path)])
    assert abs(row["p_good"] - answer["p_good"]) <= 1e-9
    assert answer["model"]["sha256"] == row["model_sha256"]


def test_multipart_upload_and_feature_values(server, photo_bytes):
    response = httpx.post(
        server.url + "/v1/check?features=1",
        files={"image": ("a.jpg", photo_bytes, "image/jpeg")},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    features = response.json()["features"]
    assert features["width"] == 512 and 0 < features["brightness"] < 1
    assert 1 < features["nima_technical_mean"] < 10


def _truncated(photo_bytes: bytes) -> bytes:
    return photo_bytes[: len(photo_bytes) // 3]


def _bomb() -> bytes:
    # A valid 3000 x 3000 PNG of one colour: tiny on the wire, 9 MP once decoded.
    buffer = io.BytesIO()
    Image.new("RGB", (3000, 3000), (90, 90, 90)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("empty", 400, "bad_image"),
        ("text as image", 400, "bad_image"),
        ("truncated JPEG", 400, "bad_image"),
        ("text/plain", 415, "unsupported_media_type"),
        ("form-urlencoded", 415, "unsupported_media_type"),
        ("too many pixels", 413, "too_many_pixels"),
        ("multipart without image", 400, "bad_request"),
    ],
)
def test_bad_input_gets_the_right_4xx_as_json(server, photo_bytes, kind, status, code):
    body, content_type = {
        "empty": (b"", "image/jpeg"),
        "text as image": (b"hello, not a photo", "application/octet-stream"),
        "truncated JPEG": (_truncated(photo_bytes), "image/jpeg"),
        "text/plain": (b"hello", "text/plain"),
        "form-urlencoded": (b"a=b", "application/x-www-form-urlencoded"),
        "too many pixels": (_bomb(), "image/png"),
        "multipart without image": (
            b'--XX\r\nContent-Disposition: form-data; name="other"\r\n\r\nvalue\r\n--XX--\r\n',
            "multipart/form-data; boundary=XX",
        ),
    }[kind]
    response = _post(server, body, content_type)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_a_body_over_the_limit_is_refused_without_being_read(server):
    # Announce 50 MB, send 1 KB, and wait: the answer comes at once, not after 50 MB.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            b"Content-Length: 50000000\r\n\r\n" + b"\xff" * 1024
        )
        start = time.monotonic()
        reply = ""
        while "body_too_large" not in reply and time.monotonic() - start < 5:
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk.decode("latin-1")
        assert time.monotonic() - start < 5
    assert reply.startswith("HTTP/1.1 413") and "body_too_large" in reply

    # Chunked, with no length announced: cut off once past the limit.
    def chunks():
        for _ in range(64):
            yield b"\0" * 65536  # 4 MB in all, the limit is 2 MB

    response = httpx.post(
        server.url + "/v1/check",
        content=chunks(),
        headers={"Content-Type": "image/jpeg"},
        timeout=30,
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"


def test_32_concurrent_requests_all_succeed_or_get_503_and_none_hang(server, chelsea):
    body = encode(chelsea, "JPEG", quality=85)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        server.url + "/v1/check",
                        content=body,
                        headers={"Content-Type": "image/jpeg"},
                    )
                    for _ in range(32)
                )
            )

    responses = asyncio.run(burst())
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 6  # 2 running + 4 queued at least
    busy = [r for r in responses if r.status_code == 503]
    assert all(r.headers.get("retry-after") for r in busy)
    p = {r.json()["p_good"] for r in responses if r.status_code == 200}
    assert len(p) == 1  # the same photo, the same answer, however busy


def test_health_readiness_metrics_and_schema(server, photo_bytes):
    assert httpx.get(server.url + "/healthz").json() == {"status": "alive"}
    assert httpx.get(server.url + "/readyz").json()["status"] == "ready"
    _post(server, photo_bytes)
    metrics = httpx.get(server.url + "/metrics").text
    assert 'photoqc_requests_total{path="/v1/check",status="200"}' in metrics
    assert "photoqc_check_seconds_bucket" in metrics and "photoqc_verdicts_total" in metrics
    schema = httpx.get(server.url + "/openapi.json").json()
    assert "/v1/check" in schema["paths"]
    assert {"400", "413", "415", "503", "504"} <= set(
        schema["paths"]["/v1/check"]["post"]["responses"]
    )
    missing = httpx.get(server.url + "/no-such-page")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@pytest.mark.slow
def test_api_key_gate_and_timeout(photo_bytes):
    server = Server(
        "--api-key-env",
        "PHOTOQC_TEST_KEY",
        "--timeout-s",
        "0.001",
        env={"PHOTOQC_TEST_KEY": "s3cret"},
    )
    try:
        assert _post(server, photo_bytes).status_code == 401
        wrong = _post(server, photo_bytes, headers={"X-API-Key": "guess"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
        # The right key passes the gate; 1 ms is too short for any check: 504, as JSON.
        late = _post(server, photo_bytes, headers={"Authorization": "Bearer s3cret"})
        assert late.status_code == 504 and late.json()["error"]["code"] == "timeout"
        assert httpx.get(server.url + "/healthz").status_code == 200  # health needs no key
    finally:
        server.stop()


def test_the_page_checks_a_dropped_photo_in_chromium(server, browser, tmp_path, coffee):
    path = tmp_path / "coffee.jpg"
    path.write_bytes(encode(coffee, "JPEG", quality=90))
    requests = []
    page = browser.new_page()
    page.on("request", lambda r: requests.append(r.url))
    page.goto(server.url + "/")
    page.set_input_files("#file", str(path))
    page.wait_for_selector("#verdict", timeout=60_000)
    verdict = page.inner_text("#verdict").strip().lower()
    assert verdict in ("good", "bad")
    answer = _post(server, path.read_bytes()).json()
    assert verdict == answer["verdict"]
    shown = page.inner_text("#reasons")
    for reason in answer["reasons"]:
        assert reason["text"] in shown
    # The mask came back and was drawn over the photo; nothing was fetched from elsewhere.
    page.wait_for_selector("#mask[data-mask=drawn]", timeout=30_000)
    inside, outside = page.evaluate(CANVAS_AGAINST_PHOTO)
    assert inside > 10, (inside, outside)  # the object is tinted
    assert outside < 1, (inside, outside)  # the background is the photo itself
    assert "quality score" in page.inner_text("#result") and "p(good)" not in page.content()
    page.uncheck("#show-mask")
    inside, outside = page.evaluate(CANVAS_AGAINST_PHOTO)
    assert inside < 1 and outside < 1  # unticked: the photo alone
    assert all(url.startswith((server.url, "blob:", "data:")) for url in requests), requests
    page.close()


CANVAS_AGAINST_PHOTO = """() => {
  // Mean absolute difference between the page's canvas and the photo itself, inside the
  // object (where the mask is opaque) and outside it (transparent).
  const canvas = document.getElementById("mask"), photo = document.getElementById("photo");
  const w = canvas.width, h = canvas.height;
  const draw = (source) => {
    const c = document.createElement("canvas"); c.width = w; c.height = h;
    const ctx = c.getContext("2d"); ctx.drawImage(source, 0, 0, w, h);
    return ctx.getImageData(0, 0, w, h).data;
  };
  const shown = canvas.getContext("2d").getImageData(0, 0, w, h).data;
  const plain = draw(photo), mask = draw(maskImage);
  let inside = 0, nIn = 0, outside = 0, nOut = 0;
  for (let i = 0; i < shown.length; i += 4) {
    const d = (Math.abs(shown[i] - plain[i]) + Math.abs(shown[i + 1] - plain[i + 1]) +
               Math.abs(shown[i + 2] - plain[i + 2])) / 3;
    if (mask[i + 3] > 250) { inside += d; nIn++; }
    else if (mask[i + 3] < 5) { outside += d; nOut++; }
  }
  return [nIn ? inside / nIn : 0, nOut ? outside / nOut : 0];
}"""


def test_answers_are_finite_json(server, photo_bytes):
    answer = _post(server, photo_bytes, headers={}, params={"features": "1"}).json()
    assert all(v is None or math.isfinite(v) for v in answer["features"].values())
    assert np.isfinite(answer["p_good"])


@pytest.mark.slow
def test_serve_refuses_an_unset_api_key_variable():
    result = subprocess.run(
        [sys.executable, "-m", "photoqc.cli", "serve", "--api-key-env", "PHOTOQC_UNSET_VAR_X"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "PHOTOQC_UNSET_VAR_X"},
    )
    assert result.returncode != 0 and "PHOTOQC_UNSET_VAR_X" in result.stdout + result.stderr


@pytest.mark.slow
def test_serve_help_lists_the_interface():
    result = subprocess.run(
        [sys.executable, "-m", "photoqc.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    for flag in (
        "--model",
        "--host",
        "--port",
        "--workers",
        "--max-upload-mb",
        "--max-pixels",
        "--api-key-env",
        "--timeout-s",
    ):
        assert flag in result.stdout, flag


def test_a_check_scores_the_upload_from_memory_and_reuses_its_own_mask(photo_bytes, monkeypatch):
    """In-process: one decode and one segmentation per check, the mask included, and no
    temporary file."""
    import tempfile

    import photoqc.assess.extractor as extractor
    from photoqc.service.app import Checker
    from photoqc.service.settings import ServeSettings

    checker = Checker(ServeSettings())
    calls = {"decode": 0, "segment": 0}
    decode = extractor.load_image

    def counted_decode(*args, **kwargs):
        calls["decode"] += 1
        return decode(*args, **kwargs)

    scorer = checker._scorer()
    segment = scorer.extractor.segmenter.segment

    def counted_segment(pixels):
        calls["segment"] += 1
        return segment(pixels)

    def no_temporary_files(*args, **kwargs):
        raise AssertionError("the service wrote the upload to a file")

    monkeypatch.setattr(extractor, "load_image", counted_decode)
    monkeypatch.setattr(scorer.extractor.segmenter, "segment", counted_segment)
    monkeypatch.setattr(tempfile, "mkstemp", no_temporary_files)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", no_temporary_files)
    try:
        answer = checker.check(photo_bytes, "upload", False, True)
    finally:
        checker.close()
    assert calls == {"decode": 1, "segment": 1}
    png = base64.b64decode(answer["mask_png"].split(",")[1])
    picture = Image.open(io.BytesIO(png))
    assert picture.mode == "LA"  # the object opaque, the rest transparent: drawable over the photo
    mask = np.asarray(picture)[..., 1] > 127
    assert mask.shape == (512, 512) and mask[256, 256] and not mask[5, 5]


@pytest.mark.slow  # spawns processes
def test_concurrent_checks_sharing_nima_batches_each_get_their_own_answer(photo_bytes):
    """With a long batching window, 6 different photos checked at once share NIMA passes;
    each answer must be the one that photo gets alone."""
    from photoqc.pipelines.demo import source_photo

    bodies = [
        encode(np.ascontiguousarray(source_photo(n)[y:]), "JPEG", quality=90)
        for n in ("astronaut", "coffee", "chelsea")
        for y in (0, 60)
    ]
    running = Server("--threads", "6", "--nima-batch-ms", "300")
    try:
        alone = [_post(running, b).json() for b in bodies]

        async def together() -> list[dict]:
            async with httpx.AsyncClient(timeout=60) as client:
                answers = await asyncio.gather(
                    *(
                        client.post(
                            running.url + "/v1/check?features=true",
                            content=b,
                            headers={"Content-Type": "image/jpeg"},
                        )
                        for b in reversed(bodies)
                    )
                )
            return [a.json() for a in reversed(answers)]

        shared = asyncio.run(together())
    finally:
        running.stop()
    assert len({round(a["p_good"], 6) for a in alone}) == len(bodies)  # all differ
    for one, both in zip(alone, shared, strict=True):
        assert both["p_good"] == pytest.approx(one["p_good"], abs=1e-4)
        assert both["verdict"] == one["verdict"]


@pytest.mark.slow  # spawns processes
def test_several_worker_processes_serve_and_keep_the_header_deadline(photo_bytes):
    """`--workers 2`: uvicorn starts the processes with the guarded protocol by import
    path (it used to fail to start: a class made at run time cannot be pickled), and each
    keeps the read timeout it was given."""
    running = Server("--workers", "2", "--threads", "1", "--read-timeout-s", "1")
    try:
        response = _post(running, photo_bytes)
        assert response.status_code == 200, response.text
        assert response.json()["verdict"] in ("good", "bad")
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as silent:
            start = time.monotonic()
            answer = silent.recv(4096)  # we send nothing: the worker must give up on us
            waited = time.monotonic() - start
        assert answer.startswith(b"HTTP/1.1 408") and b"request_timeout" in answer
        assert 0.5 < waited < 5
    finally:
        running.stop()


def test_check_json_prints_the_object_the_service_answers(server, astronaut, tmp_path):
    """`photoqc check --json`, `photoqc.check()` and `POST /v1/check` build one record: same
    keys, same values (but the time it took and the photo's name)."""
    import json
    import subprocess
    import sys

    import photoqc

    small = astronaut[::3, ::3]  # bad: under the size rule, so reasons are there to compare
    data = encode(small, "JPEG", quality=40)
    path = tmp_path / "small.jpg"
    path.write_bytes(data)
    served = _post(server, data).json()
    printed = subprocess.run(
        [sys.executable, "-m", "photoqc.cli", "check", "--json", str(path), str(tmp_path / "x")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr[-2000:]
    lines = [json.loads(line) for line in printed.stdout.splitlines()]
    assert len(lines) == 2
    called = photoqc.check(path)
    for record in (lines[0], called):
        assert record.keys() == served.keys()
        for key in served.keys() - {"timing_ms", "image"}:
            assert record[key] == served[key], key
        assert record["image"] == str(path)
    assert served["verdict"] == "bad" and served["reasons"]
    assert lines[1] == {
        "image": str(tmp_path / "x"),
        "error": {"code": lines[1]["error"]["code"], "message": "file not found"},
    }
    # The same call with bytes and with pixels: the scorer built once is reused.
    assert photoqc.check(data)["p_good"] == served["p_good"]
    # Pixels carry no file (no JPEG tables): they answer as the same pixels in a PNG do.
    as_png = photoqc.check(encode(small, "PNG"))
    assert photoqc.check(small)["p_good"] == as_png["p_good"]


def test_score_out_dash_writes_the_table_to_standard_output(tmp_path, astronaut):
    import io
    import subprocess
    import sys

    import pandas as pd

    path = tmp_path / "a.jpg"
    path.write_bytes(encode(astronaut[::2, ::2], "JPEG", quality=90))
    done = subprocess.run(
        [sys.executable, "-m", "photoqc.cli", "score", str(path), "--out", "-"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    table = pd.read_csv(io.StringIO(done.stdout))
    assert list(table["image"]) == [str(path)] and table["status"][0] == "ok"
    assert not (tmp_path / "-").exists() and not list(tmp_path.glob("*.csv"))
    refused = subprocess.run(
        [sys.executable, "-m", "photoqc.cli", "score", str(path),
         "--out", str(tmp_path / "o.json")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode == 2 and "name a .csv file" in " ".join(refused.stderr.split())
    assert not (tmp_path / "o.json").exists()
