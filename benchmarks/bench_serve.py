"""Load on `photoqc serve`: throughput, latency percentiles, errors, and memory growth.

Usage::

    python benchmarks/bench_serve.py [--requests 48] [--concurrency 1 4 16] [--soak 10000]

Starts ``photoqc serve`` (built-in model) on a free localhost port, then for 500x500 phone
photos (clive-dev's, else crops of scikit-image's) and for 12 MP JPEGs sends a fixed number
of ``POST /v1/check`` requests at each concurrency (httpx + asyncio, localhost only) and
prints requests/s, p50/p95/p99 latency and the number of non-200 answers.

Then a soak of ``--soak`` requests at concurrency 16 (0 to skip), a mix of what a public
upload endpoint gets: good photos (``/v1/check``), listings of 3 photos (``/v1/rank``),
hostile bodies (not an image, a truncated JPEG, an EPS file sent as JPEG, an empty body,
a wrong Content-Type, a POST to ``/healthz`` declaring a gigabyte) and, beside them, slow
clients (headers a byte at a time, a body that stops) that must get 408. It prints the
answers by status, the service's RSS at the start and the end (target: flat within
10 %) and the number of 5xx answers (target: 0). Nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import psutil
from PIL import Image

from photoqc.pipelines.demo import source_photo

CLIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "clive-dev" / "images"


def phone_photos(count: int) -> list[bytes]:
    if CLIVE.is_dir():
        return [p.read_bytes() for p in sorted(CLIVE.iterdir())[:count]]
    names = ["astronaut", "coffee", "chelsea", "rocket"]
    out = []
    for k in range(count):
        buffer = io.BytesIO()
        Image.fromarray(source_photo(names[k % 4])).resize((500, 500)).save(buffer, "JPEG")
        out.append(buffer.getvalue())
    return out


def big_photos(count: int) -> list[bytes]:
    out = []
    for k, name in enumerate(["astronaut", "coffee", "chelsea"][:count]):
        image = cv2.resize(source_photo(name), (4000, 3000), interpolation=cv2.INTER_CUBIC)
        noise = np.random.default_rng(k).normal(0, 3, image.shape)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(image + noise, 0, 255).astype(np.uint8)).save(
            buffer, "JPEG", quality=90
        )
        out.append(buffer.getvalue())
    return out


def start_server(extra: list[str]) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "photoqc.cli", "serve", "--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the server did not start")


async def load(url: str, bodies: list[bytes], requests: int, concurrency: int) -> dict:
    latencies, errors = [], 0
    gate = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient, k: int) -> None:
        nonlocal errors
        async with gate:
            start = time.perf_counter()
            response = await client.post(
                url + "/v1/check",
                content=bodies[k % len(bodies)],
                headers={"Content-Type": "image/jpeg"},
            )
            latencies.append(time.perf_counter() - start)
            errors += response.status_code != 200

    async with httpx.AsyncClient(timeout=120) as client:
        start = time.perf_counter()
        await asyncio.gather(*(one(client, k) for k in range(requests)))
        seconds = time.perf_counter() - start
    if not latencies:  # nothing asked: no percentiles
        return {"rps": 0.0, "p50": np.nan, "p95": np.nan, "p99": np.nan, "errors": errors}
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    return {"rps": requests / seconds, "p50": p50, "p95": p95, "p99": p99, "errors": errors}


HOSTILE = {
    "not an image": (b"hello, this is text" * 50, "image/jpeg"),
    "truncated JPEG": (None, "image/jpeg"),  # filled in from a real photo
    "EPS as JPEG": (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", "image/jpeg"),
    "empty": (b"", "image/jpeg"),
    "wrong type": (b"{}", "application/json"),
}


async def soak(url: str, photos: list[bytes], requests: int, concurrency: int) -> dict:
    """``requests`` of the mix above at ``concurrency``; answers counted by status."""
    from collections import Counter

    bodies = dict(HOSTILE)
    bodies["truncated JPEG"] = (photos[0][: len(photos[0]) // 2], "image/jpeg")
    hostile = list(bodies.values())
    statuses: Counter[int | str] = Counter()
    gate = asyncio.Semaphore(concurrency)
    rng = np.random.default_rng(0)
    kinds = rng.choice(["photo", "rank", "hostile", "healthz"], requests, p=[0.6, 0.1, 0.25, 0.05])

    async def one(client: httpx.AsyncClient, k: int) -> None:
        async with gate:
            kind = kinds[k]
            try:
                if kind == "photo":
                    response = await client.post(
                        url + "/v1/check",
                        content=photos[k % len(photos)],
                        headers={"Content-Type": "image/jpeg"},
                    )
                elif kind == "rank":
                    files = [("images", (f"p{j}.jpg", photos[(k + j) % len(photos)], "image/jpeg"))
                             for j in range(3)]  # fmt: skip
                    response = await client.post(url + "/v1/rank", files=files)
                elif kind == "hostile":
                    body, kind_of = hostile[k % len(hostile)]
                    response = await client.post(
                        url + "/v1/check", content=body, headers={"Content-Type": kind_of}
                    )
                else:
                    response = await client.get(url + "/healthz")
                statuses[response.status_code] += 1
            except httpx.HTTPError:
                statuses[0] += 1  # no answer at all

    async def slow_clients(stop: asyncio.Event) -> None:
        """Beside the load, one slow client at a time: headers a byte at a time, then a
        body that stops. Each must end with the service's 408 (counted as such) or with
        the service closing the connection (``closed``), never with a 5xx."""
        host, port = url.removeprefix("http://").split(":")
        head = b"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        while not stop.is_set():
            reader, writer = await asyncio.open_connection(host, int(port))
            try:
                for byte in head:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.05)
                writer.write(b"Content-Length: 100000\r\n\r\n" + photos[0][:1000])
                await writer.drain()
            except OSError:
                pass  # the service answered and closed while we were still sending
            try:
                answer = await asyncio.wait_for(reader.read(200), 60)
            except (OSError, TimeoutError):
                answer = b""
            if answer.startswith(b"HTTP/"):
                statuses[int(answer.split()[1])] += 1
            else:
                statuses["closed"] += 1
            writer.close()

    stop = asyncio.Event()
    async with httpx.AsyncClient(timeout=120) as client:
        slow = asyncio.create_task(slow_clients(stop))
        start = time.perf_counter()
        await asyncio.gather(*(one(client, k) for k in range(requests)))
        seconds = time.perf_counter() - start
        stop.set()
        await slow
    return {"statuses": statuses, "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=48, help="requests per row")
    parser.add_argument("--big-requests", type=int, default=12, help="requests per 12 MP row")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 4, 16])
    parser.add_argument(
        "--soak", type=int, default=10000, help="requests of the soak at concurrency 16 (0: none)"
    )
    parser.add_argument("--serve-args", default="", help="options for photoqc serve")
    args = parser.parse_args()
    process, url = start_server(["--read-timeout-s", "3", *args.serve_args.split()])
    try:
        server = psutil.Process(process.pid)
        sets = {"500x500": phone_photos(32), "12 MP JPEG": big_photos(3)}
        asyncio.run(load(url, sets["500x500"], 4, 1))  # warm-up
        print(
            f"{'photos':12s} {'conc.':>5s} {'req/s':>7s} {'p50 s':>7s} {'p95 s':>7s} "
            f"{'p99 s':>7s} {'errors':>6s}"
        )
        for name, bodies in sets.items():
            count = args.requests if name == "500x500" else args.big_requests
            for concurrency in args.concurrency:
                r = asyncio.run(load(url, bodies, count, concurrency))
                print(
                    f"{name:12s} {concurrency:5d} {r['rps']:7.2f} {r['p50']:7.3f} "
                    f"{r['p95']:7.3f} {r['p99']:7.3f} {r['errors']:6d}"
                )
        if args.soak > 0:
            asyncio.run(soak(url, sets["500x500"], min(200, args.soak), 16))  # warm the heap
            time.sleep(1.0)
            at_start = server.memory_info().rss / 2**20
            result = asyncio.run(soak(url, sets["500x500"], args.soak, 16))
            time.sleep(3.0)
            at_end = server.memory_info().rss / 2**20
            statuses = result["statuses"]
            growth = at_end / at_start - 1
            errors_5xx = sum(
                n
                for status, n in statuses.items()
                if status == 0 or (isinstance(status, int) and status >= 500)
            )
            print(
                f"soak: {args.soak} requests at concurrency 16 in {result['seconds']:.0f} s "
                f"({args.soak / result['seconds']:.1f} req/s), answers "
                + ", ".join(
                    f"{status or 'none'}: {n}" for status, n in sorted(statuses.items(), key=str)
                )
            )
            print(f"soak: RSS at start {at_start:.0f} MiB, at end {at_end:.0f} MiB ({growth:+.1%})")
            print(f"soak: 5xx or no answer {errors_5xx} (target 0)")
            print(f"ratio rss_growth_over_10pct {max(growth, 0) / 0.10:.2f}")
    finally:
        process.terminate()
        process.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
