"""The networks' batcher, on NIMA: concurrent callers share forward passes and each gets
its own outputs; closing stops its thread and releases the networks."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from photoqc.models.networks import Batcher
from photoqc.models.nima import NimaPredictor, packaged_nima_files


class Shared:
    """The module's predictor, lent to a batcher without being closed by it."""

    def __init__(self, predictor):
        self.predictor = predictor
        self.closed = 0

    def outputs(self, images):
        return self.predictor.outputs(images)

    def close(self):
        self.closed += 1


def NimaBatcher(predictor, **options):
    return Batcher(Shared(predictor), name="photoqc-nima", **options)


@pytest.fixture(scope="module")
def predictor():
    return NimaPredictor(packaged_nima_files())


@pytest.fixture(scope="module")
def photos():
    from photoqc.pipelines.demo import source_photo

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
    for k, (outputs,) in got.items():
        (want,) = alone[k]
        for name in predictor.names:
            assert outputs.scores[name] == pytest.approx(want.scores[name], abs=1e-4)
            np.testing.assert_allclose(outputs.embeddings[name], want.embeddings[name], atol=1e-4)
        means.append(outputs.scores["technical"][0])
    assert len({round(m, 3) for m in means}) > len(photos) // 2  # the photos differ


def test_a_callers_multi_photo_batch_keeps_its_order(predictor, photos):
    batcher = NimaBatcher(predictor, window_s=0.05)
    first = batcher.submit(photos[:3])
    second = batcher.submit(photos[3:7])
    got = first.result(30) + second.result(30)
    batcher.close()
    expected = predictor.scores(photos[:7])
    assert [o.scores["aesthetic"][0] for o in got] == pytest.approx(
        [s["aesthetic"][0] for s in expected], abs=1e-4
    )


def test_one_callers_bad_input_costs_only_that_caller(predictor, photos):
    batcher = NimaBatcher(predictor, window_s=0.2)
    flat = np.zeros((10, 10), np.uint8)  # no colour axis: the networks cannot take it
    good = batcher.submit([photos[0]])
    bad = batcher.submit([flat])
    also_good = batcher.submit([photos[1]])
    ((scores,),) = [[o.scores for o in good.result(30)]]
    ((other,),) = [[o.scores for o in also_good.result(30)]]
    with pytest.raises(Exception):  # noqa: B017  (whatever the network raises, it reaches the caller)
        bad.result(30)
    batcher.close()
    assert scores["technical"] == pytest.approx(predictor.scores([photos[0]])[0]["technical"])
    assert other["technical"] == pytest.approx(predictor.scores([photos[1]])[0]["technical"])


def test_a_job_larger_than_the_batch_limit_runs_alone(predictor, photos):
    batcher = NimaBatcher(predictor, window_s=0.05, max_batch=4)
    small = batcher.submit(photos[:2])
    large = batcher.submit(photos[:6])
    assert len(large.result(30)) == 6 and len(small.result(30)) == 2
    batcher.close()
    assert batcher.batches == 2


def test_closing_stops_the_thread_and_closes_the_networks(photos):
    before = set(threading.enumerate())
    with NimaPredictor(packaged_nima_files()).batched() as batcher:
        batcher.outputs(photos[:2])
        (thread,) = set(threading.enumerate()) - before
        assert thread.name == "photoqc-nima"
        networks = list(batcher.predictor.models.values())
    assert not thread.is_alive()
    assert all(n.session is None for n in networks)  # the ONNX sessions are let go
    batcher.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit(photos[:1])


def test_a_dropped_batcher_stops_its_thread_and_closes_the_networks(photos):
    import gc
    import time

    before = set(threading.enumerate())
    batcher = NimaPredictor(packaged_nima_files()).batched()
    batcher.outputs(photos[:1])
    (thread,) = set(threading.enumerate()) - before
    networks = list(batcher.predictor.models.values())
    del batcher
    gc.collect()
    deadline = time.monotonic() + 10
    while thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not thread.is_alive()
    assert all(n.session is None for n in networks)


def test_a_batcher_never_used_holds_no_thread_and_closes_its_networks():
    before = set(threading.enumerate())
    batcher = NimaPredictor(packaged_nima_files()).batched()
    networks = list(batcher.predictor.models.values())
    assert not set(threading.enumerate()) - before
    batcher.close()
    assert all(n.session is None for n in networks)
