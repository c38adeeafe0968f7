"""`photoqc serve` attacked as an attacker would on localhost: formats it must not decode,
silent and trickling clients, hundreds of slow connections against a small file limit,
SIGTERM under load, upload floods, malformed HTTP, and what the page and schema offer."""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import psutil
import pytest
from conftest import ServeProcess, encode
from test_formats import BODIES

pytestmark = pytest.mark.slow


Service = ServeProcess


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    # A fake Ghostscript first on the PATH: if anything ran it, the marker would appear.
    bin_dir = tmp_path_factory.mktemp("bin")
    marker = bin_dir / "ghostscript-ran"
    for name in ("gs", "gsc", "gswin64c"):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
        script.chmod(0o755)
    running = Service("--read-timeout-s", "2", env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    running.ghostscript_marker = marker
    yield running
    running.stop()


def _connect(service) -> socket.socket:
    return socket.create_connection(("127.0.0.1", service.port), timeout=10)


def _answer(sock: socket.socket, wait: float = 10) -> tuple[int, dict]:
    """The status and JSON body of the response on ``sock`` (the server closes it)."""
    sock.settimeout(wait)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body) if body else {}


# --- 1. only the formats photoqc means to read -------------------------------------------


@pytest.mark.parametrize("fmt", sorted(BODIES))
def test_formats_outside_the_allow_list_get_415_and_run_nothing(service, fmt):
    response = httpx.post(
        service.url + "/v1/check",
        content=BODIES[fmt](),
        headers={"Content-Type": "image/jpeg"},
        timeout=30,
    )
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["code"] == "unsupported_format"
    assert error["message"].startswith(f"unsupported image format: {fmt}")
    assert not service.ghostscript_marker.exists()


# --- 2. slow and silent clients ----------------------------------------------------------


def test_a_silent_connection_gets_408_and_is_closed(service):
    started = time.monotonic()
    with _connect(service) as sock:
        status, body = _answer(sock)
    assert status == 408 and body["error"]["code"] == "request_timeout"
    assert 1.5 < time.monotonic() - started < 5


def test_headers_trickled_a_byte_a_second_are_cut_off(service):
    request = b"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
    started = time.monotonic()
    with _connect(service) as sock:
        for byte in request:
            try:
                sock.send(bytes([byte]))
            except OSError:
                break
            time.sleep(0.25)
            if time.monotonic() - started > 8:
                break
        status, body = _answer(sock)
    assert status == 408, body
    assert time.monotonic() - started < 6


def test_a_body_trickled_a_byte_a_second_gets_408(service, astronaut):
    photo = encode(astronaut, "JPEG", quality=90)
    head = (
        f"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        f"Content-Length: {len(photo)}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    with _connect(service) as sock:
        sock.send(head)
        for i in range(20):
            try:
                sock.send(photo[i : i + 1])
            except OSError:
                break
            time.sleep(0.5)
        status, body = _answer(sock)
    assert status == 408 and "did not arrive within 2 s" in body["error"]["message"]
    assert time.monotonic() - started < 8


def test_300_slow_connections_never_keep_healthz_waiting(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1024:
        pytest.skip(f"this process may open only {hard} files, too few for 300 clients")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1024), hard))
    service = Service("--read-timeout-s", "15", files=256)
    sockets = []
    try:
        for _ in range(300):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", service.port))
            sockets.append(sock)
        time.sleep(1.0)
        for sock in sockets:  # slowloris: a request started, never finished
            try:
                sock.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            except OSError:
                pass
        times = []
        for _ in range(5):
            started = time.monotonic()
            response = httpx.get(service.url + "/healthz", timeout=5)
            times.append(time.monotonic() - started)
            assert response.status_code == 200
            time.sleep(0.2)
        assert max(times) < 2, times
        assert service.process.poll() is None, service.output()
    finally:
        for sock in sockets:
            sock.close()
        service.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# --- 3. SIGTERM always ends the process ---------------------------------------------------


def test_sigterm_finishes_checks_cuts_trickling_uploads_and_exits_0(astronaut):
    service = Service("--read-timeout-s", "30", "--timeout-s", "10")
    photo = encode(astronaut, "JPEG", quality=90)
    head = (
        f"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        f"Content-Length: {len(photo)}\r\n\r\n"
    ).encode()
    trickle = _connect(service)
    trickle.send(head + photo[:100])
    with ThreadPoolExecutor(2) as pool:
        in_flight = pool.submit(
            lambda: httpx.post(
                service.url + "/v1/check",
                content=photo,
                headers={"Content-Type": "image/jpeg"},
                timeout=30,
            )
        )
        time.sleep(0.3)  # the check is running
        started = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        status, body = _answer(trickle, wait=20)
        assert status == 503 and body["error"]["code"] == "shutting_down"
        assert in_flight.result().status_code == 200
    code = service.process.wait(10 + 5)
    assert code == 0, service.output()
    assert time.monotonic() - started < 15
    trickle.close()


# --- 4. memory under upload floods --------------------------------------------------------


def test_forty_24_mb_uploads_at_once_keep_memory_bounded():
    service = Service()
    process = psutil.Process(service.process.pid)
    clients = 40
    try:
        httpx.get(service.url + "/healthz", timeout=5)
        start = process.memory_info().rss
        body = b"\xff\xd8\xff\xe0" + np.random.default_rng(0).bytes(24_000_000)
        head = (
            f"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        peak = [start]
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], process.memory_info().rss)
                time.sleep(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        # Every client sends its headers, and only once all 40 are on the wire (and the
        # service has had time to admit or refuse each) do the admitted ones send their
        # bodies: what is refused "at once" is then fixed by admission, not by how fast
        # this machine reads and rejects the first bodies.
        everyone_asked = threading.Barrier(clients)

        def upload(_: int) -> tuple[str, int]:
            try:
                with _connect(service) as sock:
                    sock.sendall(head)
                    everyone_asked.wait(30)
                    time.sleep(1.5)
                    if select.select([sock], [], [], 0)[0]:
                        return "at once", _answer(sock)[0]
                    sock.sendall(body)
                    return "after body", _answer(sock, 60)[0]
            except OSError:
                return "transport", 0

        with ThreadPoolExecutor(clients) as pool:
            answers = list(pool.map(upload, range(clients)))
        stop.set()
        watcher.join()
        time.sleep(2.0)
        end = process.memory_info().rss
    finally:
        service.stop()
    mb = 1e6
    admitted = 2 + 16  # threads + queue
    refused = [status for when, status in answers if when == "at once"]
    read = [status for when, status in answers if when == "after body"]
    # Every body is received before a check slot is taken (issue 45: slow uploads must
    # not hold slots), spooled to disk past 4 MB; then rejected as not a JPEG, or 503
    # when every slot is busy.
    assert not refused and len(read) == clients, answers
    assert set(read) <= {400, 503} and 400 in read, answers
    assert peak[0] - start < admitted * 25 * mb + 300 * mb, (start / mb, peak[0] / mb)
    assert end - start < 100 * mb, (start / mb, end / mb)


# --- 5. malformed HTTP gets JSON ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"GET /he\x00lthz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /he\xfflthz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
    ],
    ids=["content-length", "huge-headers", "nul-in-url", "ff-in-url", "garbage"],
)
def test_malformed_http_gets_a_json_error(service, raw, status):
    with _connect(service) as sock:
        sock.sendall(raw)
        got, body = _answer(sock)
    assert got == status and set(body["error"]) == {"code", "message"}


def test_a_client_leaving_mid_upload_is_one_log_line_not_a_traceback(service, astronaut):
    photo = encode(astronaut, "JPEG", quality=90)
    with _connect(service) as sock:
        sock.send(
            f"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            f"Content-Length: {len(photo)}\r\n\r\n".encode()
            + photo[:1000]
        )
        time.sleep(0.3)
    time.sleep(1.0)
    log = service.output()
    assert "Traceback" not in log and "internal error" not in log, log


# --- 6. offline docs, the key in the schema and on the page -------------------------------


def test_docs_make_no_external_request_and_the_schema_declares_the_key(tmp_path, coffee):
    service = Service("--api-key-env", "PHOTOQC_TEST_KEY", env={"PHOTOQC_TEST_KEY": "s3cret"})
    try:
        docs = httpx.get(service.url + "/docs", timeout=5)
        assert docs.status_code == 404 and "cdn" not in docs.text.lower()
        schema = httpx.get(service.url + "/openapi.json", timeout=5).json()
        schemes = schema["components"]["securitySchemes"]
        assert schemes["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
        assert schema["paths"]["/v1/check"]["post"]["security"]
        assert schema["paths"]["/v1/rank"]["post"]["security"]
        # And the key is asked for on /v1/rank as on /v1/check.
        files = [("images", ("c.jpg", encode(coffee, "JPEG", quality=90), "image/jpeg"))]
        refused = httpx.post(service.url + "/v1/rank", files=files, timeout=30)
        assert refused.status_code == 401
        keyed = httpx.post(
            service.url + "/v1/rank", files=files, headers={"X-API-Key": "s3cret"}, timeout=60
        )
        assert keyed.status_code == 200 and keyed.json()["photos"][0]["image"] == "c.jpg"
    finally:
        service.stop()


def test_the_page_sends_the_key_it_was_given(browser, tmp_path, coffee):
    service = Service("--api-key-env", "PHOTOQC_TEST_KEY", env={"PHOTOQC_TEST_KEY": "s3cret"})
    try:
        path = tmp_path / "coffee.jpg"
        path.write_bytes(encode(coffee, "JPEG", quality=90))
        page = browser.new_page()
        page.goto(service.url + "/")
        page.set_input_files("#file", str(path))
        page.wait_for_selector("#verdict", timeout=60_000)
        assert page.inner_text("#verdict").strip().lower() == "error"
        assert "API key" in page.inner_text("#error")
        page.fill("#api-key", "s3cret")
        page.dispatch_event("#api-key", "change")
        page.set_input_files("#file", [])
        page.set_input_files("#file", str(path))
        page.wait_for_function(
            "['good', 'bad'].includes(document.getElementById('verdict')?.textContent)",
            timeout=60_000,
        )
        assert page.evaluate("sessionStorage.getItem('photoqc-api-key')") == "s3cret"
        page.close()
    finally:
        service.stop()
