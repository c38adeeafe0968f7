"""Load on `photoqc serve`: throughput, latency percentiles, errors, and memory growth.

Usage::

    python benchmarks/bench_serve.py [--requests 48] [--concurrency 1 4 16] [--soak 2000]

Starts ``photoqc serve`` (built-in model) on a free localhost port, then for 500x500 phone
photos (clive-dev's, else crops of scikit-image's) and for 12 MP JPEGs sends a fixed number
of ``POST /v1/check`` requests at each concurrency (httpx + asyncio, localhost only) and
prints requests/s, p50/p95/p99 latency and the number of non-200 answers. Then the
service's resident memory after 100 requests and after ``--soak`` requests (target: grows
by under 10 %). Nothing leaves this machine.
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
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    return {"rps": requests / seconds, "p50": p50, "p95": p95, "p99": p99, "errors": errors}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=48, help="requests per row")
    parser.add_argument("--big-requests", type=int, default=12, help="requests per 12 MP row")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 4, 16])
    parser.add_argument("--soak", type=int, default=2000, help="requests before the last RSS")
    parser.add_argument("--serve-args", default="", help="options for photoqc serve")
    args = parser.parse_args()
    process, url = start_server(args.serve_args.split())
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
        asyncio.run(load(url, sets["500x500"], 100, 4))
        after_100 = server.memory_info().rss / 2**20
        asyncio.run(load(url, sets["500x500"], max(0, args.soak - 100), 4))
        after_soak = server.memory_info().rss / 2**20
        growth = after_soak / after_100 - 1
        print(
            f"RSS after 100 requests {after_100:.0f} MiB; after {args.soak}: "
            f"{after_soak:.0f} MiB ({growth:+.1%})"
        )
        print(f"ratio rss_growth_over_10pct {max(growth, 0) / 0.10:.2f}")
    finally:
        process.terminate()
        process.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
