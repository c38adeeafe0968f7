"""Shared fixtures: real photos from scikit-image, synthetic scenes, and the shared data."""

from __future__ import annotations

import gc
import io
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from skimage import data

from photoqc.memory import return_free_memory

SHARED = Path(__file__).resolve().parents[2] / "shared"
CLIVE_DIR = SHARED / "data" / "clive-dev"
CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_finish(session):
    """What collection imported (torch, pandas, the test modules) lives for the whole run:
    frozen, the garbage collector no longer walks it, and a collection costs ~8 ms not
    ~0.2 s."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _free_memory_after_each_test():
    """Hand the pages a test freed back to the system (~4 ms), so that the suite's peak is
    what one test needs rather than the sum of freed-but-kept heap (3.3 GB before this, on
    2026-12-04); the garbage collector runs once a module."""
    yield
    return_free_memory()


@pytest.fixture(autouse=True, scope="module")
def _collect_garbage_between_modules():
    yield
    gc.collect()
    return_free_memory()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    return data.chelsea()


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    return data.coffee()


@pytest.fixture
def clive_dir() -> Path:
    if not (CLIVE_DIR / "labels.csv").is_file():
        pytest.skip(f"real photos not available: {CLIVE_DIR} is absent (it sits beside the repo)")
    return CLIVE_DIR


def encode(array: np.ndarray, fmt: str = "PNG", **params) -> bytes:
    """Encode a uint8 array with Pillow and return the bytes."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt, **params)
    return buffer.getvalue()


def synthetic_scene(
    height: int = 240, width: int = 320, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A textured green-grey background with a distinct red-brown ellipse in the middle.

    Returns the RGB image and the true object mask.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack(
        [
            60 + 20 * np.sin(xx / 9.0),
            120 + 25 * np.cos(yy / 7.0),
            70 + 15 * np.sin((xx + yy) / 11.0),
        ],
        axis=-1,
    )
    obj = ((xx - width / 2) / (width * 0.22)) ** 2 + (
        (yy - height / 2) / (height * 0.28)
    ) ** 2 <= 1.0
    foreground = np.stack(
        [200 + 20 * np.sin(yy / 5.0), 70 + 15 * np.cos(xx / 6.0), 50 + 10 * np.sin(xx / 4.0)],
        axis=-1,
    )
    image = np.where(obj[..., None], foreground, background) + rng.normal(0, 6, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8), obj


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The offline demo in a small configuration (no segmenter, one crop per photo): a
    trained model on real photos with realistic defects, shared by the model tests."""
    from photoqc.pipelines.demo import DemoConfig, run_demo

    out = tmp_path_factory.mktemp("demo")
    return run_demo(out, DemoConfig(crops_per_photo=1, segmenter="none", folds=3))


@pytest.fixture
def browser():
    """Debian's Chromium driven by Playwright (skips, saying why, where either is absent)."""
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (CI installs Debian's chromium package)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


SLOW_FIXTURES = frozenset({"demo_run", "browser", "server"})
"""Tests that use these (a trained demo model, Chromium, a running service) are slow."""


def pytest_configure(config):
    """The suite's caches (feature rows, built network graphs) in a folder of its own,
    removed at the end: never the user's ``~/.cache/photoqc``; subprocesses inherit it."""
    if not os.environ.get("PHOTOQC_CACHE_DIR"):
        folder = tempfile.mkdtemp(prefix="photoqc-test-cache-")
        os.environ["PHOTOQC_CACHE_DIR"] = folder
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


def pytest_collection_modifyitems(config, items):
    """``-m "not slow"`` leaves out what trains a model, starts a server or a browser, runs
    a notebook or spawns processes: marked by hand (``@pytest.mark.slow``), or here for
    every test that uses one of :data:`SLOW_FIXTURES`."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """``photoqc serve`` in a subprocess (its output kept), stopped at the end."""

    def __init__(self, *args: str, files: int | None = None, env: dict | None = None):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"

        def limits() -> None:
            if files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

        self.log = io.BytesIO()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "photoqc.cli", "serve", "--port", str(self.port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            preexec_fn=limits,
        )
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.output())
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("the service did not become ready in 90 s")

    def _collect(self) -> None:
        for line in self.process.stdout:
            self.log.write(line)

    def output(self) -> str:
        return self.log.getvalue().decode(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
