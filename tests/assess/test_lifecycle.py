"""Models that let go of what they hold: a scorer's and an extractor's threads and network
sessions end on close() (or leaving ``with``), and when one is dropped without closing; a
borrowed NIMA batcher is its owner's to close."""

from __future__ import annotations

import gc
import threading
import time

import pytest
from conftest import encode

from photoqc.assess.recipe import RecipeOptions
from photoqc.assess.scorer import Scorer
from photoqc.models.bundle import default_model_dir


@pytest.fixture(scope="module")
def photo(astronaut) -> bytes:
    return encode(astronaut, "JPEG", quality=90)


def _scorer(**kwargs) -> Scorer:
    scorer, _ = Scorer.from_model(default_model_dir(), RecipeOptions(offline=True), **kwargs)
    return scorer


def _new_threads(before: set[threading.Thread]) -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t not in before}


def _sessions(scorer: Scorer) -> list:
    return list(scorer.extractor.nima.predictor.models.values())


def _all_end(threads, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(t.is_alive() for t in threads)


def test_closing_a_scorer_stops_its_threads_and_releases_its_sessions(photo):
    before = set(threading.enumerate())
    with _scorer() as scorer:
        (assessment,) = scorer.assess([photo])
        assert assessment.ok
        started = _new_threads(before)
        names = {t.name.split("_")[0] for t in started}
        assert names == {"photoqc-nima", "photoqc-measure"}, names
        networks = _sessions(scorer)
        assert all(n.session is not None for n in networks)
    assert not any(t.is_alive() for t in started)  # close() waited for them
    assert all(n.session is None for n in networks) and len(networks) == 2
    scorer.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        scorer.assess([photo])


def test_a_dropped_scorer_lets_go_of_its_threads_and_sessions(photo):
    before = set(threading.enumerate())
    scorer = _scorer()
    scorer.assess([photo])
    started = _new_threads(before)
    networks = _sessions(scorer)
    assert started
    del scorer
    gc.collect()
    assert _all_end(started)
    assert all(n.session is None for n in networks)


def test_a_scorer_that_never_scored_holds_no_thread():
    before = set(threading.enumerate())
    scorer = _scorer()
    assert scorer.extractor.resources()["pool"] == "not started"
    assert _new_threads(before) == set()
    scorer.close()


def test_a_borrowed_batcher_outlives_its_borrower_and_ends_with_its_owner(photo):
    owner = _scorer()
    borrower = Scorer(owner.bundle, owner.config, nima=owner.extractor.nima)
    assert owner.extractor.resources()["nima"] == "owned"
    assert borrower.extractor.resources() == {
        "nima": "borrowed",
        "batcher": "photoqc-nima",
        "pool": "not started",
    }
    (first,) = borrower.assess([photo])
    borrower.close()
    assert not owner.extractor.nima.closed  # still the owner's
    (again,) = owner.assess([photo])
    assert again.p_good == pytest.approx(first.p_good, abs=1e-9)
    networks = _sessions(owner)
    owner.close()
    assert owner.extractor.nima.closed and all(n.session is None for n in networks)


def test_build_score_close_cycles_leave_the_thread_count_where_it_was(photo):
    # (20 cycles and their memory: benchmarks/bench_lifecycle.py)
    gc.collect()
    before = threading.active_count()
    for _ in range(5):
        with _scorer() as scorer:
            scorer.assess([photo])
    assert threading.active_count() <= before


def test_a_large_batch_costs_the_networks_no_more_memory_than_a_small_one(photo):
    """ONNX Runtime's arena keeps the largest pass's buffers for the session's life (with
    the multi-level stats, about 0.7 GB per network for a pass of 32): the networks see
    at most MAX_PASS photos a pass, so a host scoring batches of 32 holds what a pass of
    8 needs."""
    psutil = pytest.importorskip("psutil")

    process = psutil.Process()
    with _scorer() as scorer:
        scorer.assess([photo])
        before = process.memory_info().rss
        for _ in range(2):
            scorer.assess([photo] * 32)
        grown = (process.memory_info().rss - before) / 2**20
    # Passes of 8: about 0.55 GB (their buffers and the assessments); of 32: 1.6 GB.
    assert grown < 900, f"{grown:.0f} MiB held after two batches of 32"


def test_closing_a_scorer_hands_its_memory_back_to_the_system(astronaut, chelsea, coffee):
    """What a scorer's sessions, buffers and photos held is free once it is closed; glibc
    keeps such pages for reuse unless told, and a host that swaps models would stay at its
    peak. Measured 2026-12-04: 83-123 MiB left of ~730 with the trim, 245-281 without."""
    psutil = pytest.importorskip("psutil")
    from photoqc.memory import return_free_memory

    # photos of 33 sizes, as uploads are: their buffers do not fit back into one another
    photos = [
        encode(image[: image.shape[0] - 7 * k, : image.shape[1] - 5 * k], "JPEG", quality=90)
        for k, image in enumerate([astronaut, chelsea, coffee] * 11)
    ]
    process = psutil.Process()
    gc.collect()
    return_free_memory()
    before = process.memory_info().rss
    scorer = _scorer()
    assert all(a.ok for a in scorer.assess(photos))
    peak = process.memory_info().rss
    scorer.close()
    left = (process.memory_info().rss - before) / 2**20
    assert (peak - before) / 2**20 > 400  # the photos and passes did cost memory
    assert left < 180, f"{left:.0f} MiB kept after close (of {(peak - before) / 2**20:.0f})"
