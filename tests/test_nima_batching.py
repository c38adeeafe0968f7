"""NIMA's batcher: concurrent callers share forward passes and each gets its own outputs."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from photoqc.models.nima_batching import NimaBatcher
from photoqc.models.nima_predict import NimaPredictor
from photoqc.models.nima_weights import packaged_nima_files


@pytest.fixture(scope="module")
def predictor():
    return NimaPredictor(packaged_nima_files())


@pytest.fixture(scope="module")
def photos():
    from photoqc.degradations import source_photo

    rng = np.random.default_rng(5)
    out = []
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        image = source_photo(name)
        for _ in range(3):  # different crops: every photo has its own scores
            h, w = image.shape[:2]
            y, x = rng.integers(0, h // 3), rng.integers(0, w // 3)
            out.append(np.ascontiguousarray(image[y : y + 2 * h // 3, x : x + 2 * w // 3]))
    return out


def test_concurrent_callers_share_passes_and_each_gets_its_own_outputs(predictor, photos):
    alone = [predictor.outputs([p]) for p in photos]
    batcher = NimaBatcher(predictor, window_s=0.2, max_batch=32)
    start = threading.Barrier(len(photos))
    got: dict[int, tuple] = {}

    def client(k: int) -> None:
        start.wait()  # all at once, in whatever order the threads get the GIL
        got[k] = batcher.outputs([photos[k]])

    threads = [threading.Thread(target=client, args=(k,)) for k in range(len(photos))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    batcher.close()
    assert sorted(got) == list(range(len(photos)))
    assert batcher.batches < len(photos)  # passes were shared
    means = []
    for k, ((scores,), (embedding,)) in got.items():
        (want_scores,), (want_embedding,) = alone[k]
        for name in predictor.names:
            assert scores[name] == pytest.approx(want_scores[name], abs=1e-4)
            np.testing.assert_allclose(embedding[name], want_embedding[name], atol=1e-4)
        means.append(scores["technical"][0])
    assert len({round(m, 3) for m in means}) > len(photos) // 2  # the photos differ


def test_a_callers_multi_photo_batch_keeps_its_order(predictor, photos):
    batcher = NimaBatcher(predictor, window_s=0.05)
    first = batcher.submit(photos[:3])
    second = batcher.submit(photos[3:7])
    (scores_a, _), (scores_b, _) = first.result(30), second.result(30)
    batcher.close()
    expected = predictor.scores(photos[:7])
    assert [s["aesthetic"][0] for s in scores_a + scores_b] == pytest.approx(
        [s["aesthetic"][0] for s in expected], abs=1e-4
    )


def test_one_callers_bad_input_costs_only_that_caller(predictor, photos):
    batcher = NimaBatcher(predictor, window_s=0.2)
    flat = np.zeros((10, 10), np.uint8)  # no colour axis: the networks cannot take it
    good = batcher.submit([photos[0]])
    bad = batcher.submit([flat])
    also_good = batcher.submit([photos[1]])
    (scores,), _ = good.result(30)
    (other,), _ = also_good.result(30)
    with pytest.raises(Exception):  # noqa: B017  (whatever the network raises, it reaches the caller)
        bad.result(30)
    batcher.close()
    assert scores["technical"] == pytest.approx(predictor.scores([photos[0]])[0]["technical"])
    assert other["technical"] == pytest.approx(predictor.scores([photos[1]])[0]["technical"])


def test_a_job_larger_than_the_batch_limit_runs_alone(predictor, photos):
    batcher = NimaBatcher(predictor, window_s=0.05, max_batch=4)
    small = batcher.submit(photos[:2])
    large = batcher.submit(photos[:6])
    assert len(large.result(30)[0]) == 6 and len(small.result(30)[0]) == 2
    batcher.close()
    assert batcher.batches == 2
