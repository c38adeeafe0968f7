"""`photoqc train` at scale: it says where it is while it fits, its stages' times, and it
stops within seconds on SIGTERM, even in the middle of fitting the heads on thousands of
rows; the feature cache keeps stats compactly and is read back a chunk at a time."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from conftest import encode
from PIL import Image

from photoqc.assess.extractor import STATS_KEY, FeatureExtractor
from photoqc.assess.recipe import ExtractConfig, RecipeOptions
from photoqc.pipelines.training.cache import FeatureCache, file_sha256
from photoqc.pipelines.training.progress import LogLines, Stages


def cached_training_set(folder, photos: int, template_image, seed: int = 0):
    """``photos`` small distinct image files, a labels CSV (MOS), and the feature cache
    already holding a row and the networks' stats for each, made from one real photo's
    row (measured here) with realistic spread: what a team that measured its photos once
    has before it retrains. Returns (labels CSV, cache folder)."""
    config, _ = ExtractConfig.resolve(RecipeOptions(segmenter="fastcut", offline=True))
    with FeatureExtractor(config, False, None, 0.0, True) as extractor:
        template = extractor.rows([encode(template_image, "PNG")])[0]
    assert template["status"] == "ok" and template[STATS_KEY]
    rng = np.random.default_rng(seed)
    images = folder / "photos"
    images.mkdir()
    cache = FeatureCache(folder / "cache")
    causes = rng.normal(size=(photos, 12))
    mos = 50 + 12 * causes[:, 0] + rng.normal(size=photos) * 6
    rows, stats, names = {}, {}, []
    fingerprint = config.fingerprint()
    loadings = {m: rng.normal(size=(12, len(v))) * 0.05 for m, v in template[STATS_KEY].items()}
    numbers = [k for k, v in template.items() if isinstance(v, float) and np.isfinite(v)]
    for i in range(photos):
        name = f"p{i:05d}.png"
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(images / name)
        key = FeatureCache.key(file_sha256(images / name), fingerprint)
        row = {k: v for k, v in template.items() if k != STATS_KEY}
        for j, column in enumerate(numbers):  # each feature moved by the photo's causes
            row[column] = float(template[column]) * (1 + 0.1 * causes[i, j % 12])
        rows[key] = {**row, "image": name}
        stats[key] = {
            m: np.clip(v * (1 + causes[i] @ loadings[m]), 0, 6).astype(np.float32)
            for m, v in template[STATS_KEY].items()
        }
        names.append(name)
    cache.put_many(rows)
    cache.put_stats(stats)
    labels = folder / "labels.csv"
    pd.DataFrame({"image": [f"photos/{n}" for n in names], "mos": mos}).to_csv(labels, index=False)
    return labels, folder / "cache"


def _train(labels, cache, out, *extra):
    return [
        sys.executable, "-m", "photoqc.cli", "train", str(labels), "--out", str(out),
        "--mos-threshold", "50", "--segmenter", "fastcut", "--offline", "--workers", "1",
        "--cache-dir", str(cache), *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_sigterm_while_the_heads_are_fitted_stops_train_within_seconds(tmp_path, astronaut):
    labels, cache = cached_training_set(tmp_path, 3000, astronaut)
    run = subprocess.Popen(
        _train(labels, cache, tmp_path / "model"),
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    said = []
    deadline = time.monotonic() + 300
    for line in run.stderr:  # standard error is a pipe: a line per stage and step
        said.append(line)
        if "heads: basis" in line:
            break
        assert time.monotonic() < deadline, "".join(said)
    time.sleep(3)  # well inside the basis's eigendecomposition of 3,000 rows
    assert run.poll() is None, "".join(said)
    sent = time.monotonic()
    run.send_signal(signal.SIGTERM)
    _, rest = run.communicate(timeout=60)
    took = time.monotonic() - sent
    said = " ".join(("".join(said) + rest).split())
    assert took < 5, f"{took:.1f} s"
    assert run.returncode == 130, said[-2000:]
    assert "interrupted: training stopped" in said
    assert not (tmp_path / "model" / "photoqc.json").exists()


@pytest.mark.slow
def test_a_non_terminal_train_says_each_fold_and_each_stage_s_time(tmp_path, astronaut):
    labels, cache = cached_training_set(tmp_path, 300, astronaut, seed=1)
    done = subprocess.run(
        _train(labels, cache, tmp_path / "model"), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stderr.splitlines()
    for fold in range(1, 6):
        assert any(
            line.startswith("cross-validation") and f"fold {fold} of 5" in line for line in lines
        ), f"fold {fold}:\n" + done.stderr[-3000:]
    for stage in ("features", "heads: basis", "heads: projecting", "final model"):
        assert any(line.startswith(f"{stage}") and "done in" in line for line in lines), stage
    said = " ".join(done.stderr.split())
    assert "300 features from cache" in said  # nothing measured again
    assert "time: features" in said and "final model" in said.split("time:")[1]


def test_log_lines_come_at_each_fold_and_at_most_every_few_seconds_otherwise():
    written: list[str] = []
    stages = Stages(LogLines(written.append, every=3600))
    with stages.stage("cross-validation", total=5, unit="fold"):
        for _ in range(4):
            for _ in range(50):
                stages.tick()  # work inside a fold: no line (every is an hour)
            stages.advance()
    with stages.stage("features", total=10_000):
        for _ in range(10_000):
            stages.advance()  # many small steps: a line to start and one to end
    assert written[:5] == [f"cross-validation, fold {i} of 5, 0 s" for i in range(1, 6)]
    assert written[5].startswith("cross-validation: done in")
    assert written[6:] == ["features, 1 of 10000, 0 s", written[7]]
    assert written[7].startswith("features: done in")
    assert list(stages.seconds) == ["cross-validation", "features"]


def test_the_cache_keeps_stats_as_deflated_float16_and_reads_them_back_in_order(tmp_path):
    cache = FeatureCache(tmp_path)
    rng = np.random.default_rng(0)
    stats = {f"k{i}": {"technical": rng.uniform(0, 6, 11904).astype(np.float32)} for i in range(30)}
    cache.put_stats(stats)
    back = cache.get_stats(stats)
    for key, arrays in stats.items():
        got = back[key]["technical"]
        assert got.dtype == np.float16
        np.testing.assert_allclose(got, arrays["technical"], rtol=1e-3, atol=1e-7)
    # One pass, in the order asked, a few keys at a time; absent keys say None.
    asked = ["k3", "missing", *sorted(stats)]
    streamed = list(cache.iter_stats(asked, chunk=4))
    assert [k for k, _ in streamed] == asked
    assert streamed[1][1] is None
    np.testing.assert_array_equal(streamed[0][1]["technical"], back["k3"]["technical"])
    import sqlite3

    with sqlite3.connect(cache.path) as db:
        size = db.execute("SELECT avg(length(data)) FROM stats").fetchone()[0]
    assert size < 0.6 * 11904 * 4  # float32 took 47.6 KB a network


def test_fresh_and_cached_stats_train_the_same_heads(tmp_path, astronaut, chelsea):
    """A first run (stats measured) and a second (stats from the cache) see the same
    numbers: fresh stats are rounded as the cache keeps them."""
    from photoqc.pipelines.training.labels import Labels
    from photoqc.pipelines.training.train import extract_labelled

    paths = []
    for name, image in (("a.png", astronaut), ("b.png", chelsea)):
        Image.fromarray(image[::4, ::4]).save(tmp_path / name)
        paths.append(str(tmp_path / name))
    labels = Labels(paths, paths, np.array([0.8, 0.2]), "mos")
    config, _ = ExtractConfig.resolve(RecipeOptions(segmenter="fastcut", offline=True))
    cache = FeatureCache(tmp_path / "cache")
    fresh, _, from_cache = extract_labelled(labels, config, cache=cache, stats=True)
    again, _, from_cache_2 = extract_labelled(labels, config, cache=cache, stats=True)
    assert (from_cache, from_cache_2) == (0, 2)
    for a, b in zip(fresh[STATS_KEY], again[STATS_KEY], strict=True):
        assert a.keys() == b.keys()
        for model in a:
            assert a[model].dtype == np.float16
            np.testing.assert_array_equal(a[model], b[model])


def test_an_interrupted_extraction_keeps_what_it_measured_in_the_cache(tmp_path, astronaut):
    from photoqc.pipelines.training.labels import Labels
    from photoqc.pipelines.training.train import CACHE_BATCH, extract_labelled

    rng = np.random.default_rng(0)
    paths = []
    for i in range(CACHE_BATCH + 6):
        noisy = np.clip(astronaut[::8, ::8] + rng.normal(0, 3, (64, 64, 3)), 0, 255)
        Image.fromarray(noisy.astype(np.uint8)).save(tmp_path / f"{i}.png")
        paths.append(str(tmp_path / f"{i}.png"))
    labels = Labels(paths, paths, np.linspace(0, 1, len(paths)), "mos")
    config, _ = ExtractConfig.resolve(RecipeOptions(segmenter="none", offline=True, batch_size=2))
    cache = FeatureCache(tmp_path / "cache")
    seen = []

    def stop_late(done, total):
        seen.append(done)
        if done >= CACHE_BATCH + 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract_labelled(labels, config, cache=cache, on_progress=stop_late, stats=True)
    _, _, from_cache = extract_labelled(labels, config, cache=cache, stats=True)
    assert from_cache >= CACHE_BATCH  # kept: the first batches, and those pending
    assert from_cache < len(paths)
