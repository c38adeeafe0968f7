"""Worker processes: a worker that dies costs one row, not the rest of the batch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from photoqc.engines import Job, batched
from photoqc.engines.local import LocalEngine, WorkerStartError
from photoqc.pipelines.batch.inputs import InputItem


class _Processor:
    """Rows carry the worker's pid; an image named "poison" kills its worker outright, as
    a segfault in a native decoder or the kernel's OOM killer would."""

    def __init__(self, poison: str, dead_on_start: bool = False):
        if dead_on_start and os.getpid() != int(os.environ.get("PHOTOQC_TEST_PARENT", "0")):
            os._exit(3)
        self.poison = poison

    def rows(self, items):
        out = []
        for item in items:
            if item.image == self.poison:
                os._exit(3)
            out.append({"image": item.image, "status": "ok", "pid": os.getpid()})
        return out

    def error_row(self, item, message):
        return {"image": item.image, "status": "error", "error": message}


def _items(n: int) -> list[InputItem]:
    return [InputItem(f"img{i}", Path(f"img{i}.jpg")) for i in range(n)]


@pytest.mark.slow
def test_a_dying_worker_costs_only_the_image_that_killed_it():
    items = _items(12)
    batches = LocalEngine(workers=2).run(batched(items, 3), Job(_Processor, ("img4",)))
    rows = {i: row for batch, out in batches for (i, _), row in zip(batch, out, strict=True)}
    assert sorted(rows) == list(range(12))  # every input has exactly one row
    assert rows[4]["status"] == "error" and "worker process died" in rows[4]["error"]
    others = [rows[i] for i in range(12) if i != 4]
    assert all(r["status"] == "ok" for r in others), [r for r in others if r["status"] != "ok"]
    assert all(r["image"] == f"img{i}" for i, r in rows.items())


@pytest.mark.slow
def test_workers_that_cannot_start_are_reported_not_turned_into_error_rows(monkeypatch):
    monkeypatch.setenv("PHOTOQC_TEST_PARENT", str(os.getpid()))
    with pytest.raises(WorkerStartError, match="__main__"):
        list(LocalEngine(workers=2).run(batched(_items(6), 2), Job(_Processor, ("none", True))))


def test_without_a_worker_count_the_run_s_size_chooses_it(monkeypatch):
    from photoqc.engines import local

    plenty = 64 << 30
    assert [local.auto_workers(n, 2, plenty) for n in (1, 199, 200, 5000)] == [1, 1, 2, 2]
    assert [local.auto_workers(n, 16, plenty) for n in (150, 800, 10_000)] == [1, 8, 16]
    assert local.auto_workers(10_000, 16, 4 << 30) == 2  # 4 GiB free hold two workers
    assert local.auto_workers(10_000, 16, 0) == 1
    monkeypatch.setattr(local.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(local, "available_memory", lambda: plenty)
    engine = local.LocalEngine(None)
    assert engine.batch_size(400, 16) == 16  # min(16, 400 // (2 * 2 workers))
    assert engine.workers == 2 and "2 worker processes for 400 photos on 2 cores" in engine.chosen
    small = local.LocalEngine(None)
    assert small.batch_size(120, 16) == 16 and small.workers == 1
    fixed = local.LocalEngine(1)
    fixed.batch_size(5000, 16)
    assert fixed.workers == 1 and fixed.chosen is None


@pytest.mark.slow
def test_the_pool_is_handed_a_bounded_window_of_batches_not_the_whole_manifest():
    """A manifest of a million rows was submitted whole (the main process grew to 5.3 GB
    by row 194,000): batches are now drawn from the input as the workers finish them."""
    from photoqc.engines.local import BATCHES_PER_WORKER

    drawn = []

    def manifest():
        for i, batch in enumerate(batched(_items(400), 2)):
            drawn.append(i)
            yield batch

    runs = LocalEngine(workers=2).run(manifest(), Job(_Processor, ("none",)))
    first = next(runs)
    assert len(first[1]) == 2
    ahead = len(drawn)
    assert ahead <= BATCHES_PER_WORKER * 2 + 1, ahead  # 200 batches exist
    rest = list(runs)
    assert len(rest) == 199 and len(drawn) == 200
    rows = sorted(row["image"] for _, out in [first, *rest] for row in out)
    assert rows == sorted(f"img{i}" for i in range(400))
