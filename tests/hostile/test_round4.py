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
