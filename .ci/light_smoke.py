"""Smoke check of the light install (issue 36), run by .ci/run with the light
environment's Python.

Fails (exit 1, saying why) when torch or torchvision got installed; when ``photoqc score``
on photos with the built-in model writes anything but one ``ok`` row each; when its p_good
differ from the full environment's (``--full-python``) by 1e-6 or more; or when
``photoqc serve`` does not answer one ``POST /v1/check``. The photos: the last 100
clive-dev photos where ``../shared`` is beside the clone, else scikit-image's.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CLIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "clive-dev" / "images"


def fail(message: str) -> None:
    print(f"light install: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def photos(folder: Path) -> str:
    """Link 100 clive-dev photos into ``folder``, or write scikit-image's; say which."""
    if CLIVE.is_dir():
        for path in sorted(CLIVE.iterdir())[-100:]:
            (folder / path.name).symlink_to(path)
        return "100 clive-dev photos"
    from PIL import Image
    from skimage import data

    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        Image.fromarray(getattr(data, name)()).save(folder / f"{name}.jpg", quality=90)
    return "4 scikit-image photos"


def score(python: str, folder: Path, out: Path) -> dict[str, float]:
    command = [python, "-m", "photoqc.cli", "score", str(folder), "--out", str(out), "--offline"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        fail(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-2000:]}")
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    bad = [r["image"] for r in rows if r["status"] != "ok"]
    if bad:
        fail(f"error rows for {bad[:3]}")
    return {r["image"]: float(r["p_good"]) for r in rows}


def check_served(folder: Path) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "photoqc.cli", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if server.poll() is not None:
                fail(f"photoqc serve exited {server.returncode}: {server.stdout.read()[-2000:]!r}")
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        photo = sorted(folder.iterdir())[0].read_bytes()
        request = urllib.request.Request(
            url + "/v1/check", data=photo, headers={"Content-Type": "image/jpeg"}
        )
        if photo[:4] == b"\x89PNG":
            request.add_header("Content-Type", "image/png")
        with urllib.request.urlopen(request, timeout=60) as answer:
            body = json.loads(answer.read())
        if body.get("verdict") not in {"good", "bad"}:
            fail(f"/v1/check answered {body}")
        return body["verdict"]
    finally:
        server.terminate()
        server.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full-python", required=True, help="the full environment's python")
    args = parser.parse_args()
    for name in ("torch", "torchvision"):
        if importlib.util.find_spec(name) is not None:
            fail(f"{name} got installed in the light environment")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        which = photos(folder)
        started = time.perf_counter()
        light = score(sys.executable, folder, Path(tmp) / "light.csv")
        seconds = time.perf_counter() - started
        full = score(args.full_python, folder, Path(tmp) / "full.csv")
        if light.keys() != full.keys():
            fail("the light and full environments scored different photos")
        delta = max(abs(light[k] - full[k]) for k in light)
        if delta >= 1e-6:
            fail(f"p_good differs from the full environment's by up to {delta:.2e}")
        verdict = check_served(folder)
    print(
        f"light install: no torch; {which} scored in {seconds:.1f} s, p_good max |light - "
        f"full| {delta:.1e}; photoqc serve answered /v1/check ({verdict})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
