"""The one resumable runner: whatever the engine and the order batches come back in, rows
are written in input order, once each, and a second run goes on from the first."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from photoqc.assess.items import InputItem
from photoqc.engines import Job, batched
from photoqc.pipelines.batch.outputs import OutputError
from photoqc.pipelines.batch.runner import TableSpec, run


class _Echo:
    """A processor whose rows say which item they are (no pixels needed)."""

    def __init__(self, fail: str = ""):
        self.fail = fail

    def rows(self, items):
        return [
            {
                "image": item.image,
                "status": "error" if item.image == self.fail else "ok",
                "error": "refused" if item.image == self.fail else "",
                "value": float(item.source),
            }
            for item in items
        ]

    def error_row(self, item, message):
        return {"image": item.image, "status": "error", "error": message, "value": float("nan")}


class _Backwards:
    """An engine that runs batches here and hands them back last first, as a cluster might."""

    name = "backwards"

    def __init__(self):
        self.batches_seen = 0

    def batch_size(self, n_items, preferred):
        return preferred

    def run(self, batches, job):
        processor = job.build()
        done = [(b, processor.rows([item for _, item in b])) for b in batches]
        self.batches_seen += len(done)
        yield from reversed(done)


def _items(n: int) -> list[InputItem]:
    return [InputItem(f"img{i}", i) for i in range(n)]


def _table(tmp_path, **kwargs) -> TableSpec:
    return TableSpec(
        out=tmp_path / "rows.csv", columns=["image", "status", "error", "value", "run"], **kwargs
    )


def test_rows_are_written_in_input_order_whatever_order_batches_finish(tmp_path):
    engine = _Backwards()
    seen = []
    summary = run(
        _items(10),
        Job(_Echo, ("img3",), batch_size=3),
        engine=engine,
        table=_table(tmp_path, run={"run": "a"}),
        on_rows=seen.append,
    )
    written = pd.read_csv(tmp_path / "rows.csv")
    assert list(written["image"]) == [f"img{i}" for i in range(10)]
    assert list(written["value"]) == list(range(10)) and set(written["run"]) == {"a"}
    assert engine.batches_seen == 4 and sum(seen) == 10
    assert summary.processed == 10 and summary.errors == 1
    assert summary.first_errors == [("img3", "refused")]


def test_a_second_run_does_only_what_is_missing_and_its_progress_starts_there(tmp_path):
    items = _items(7)
    table = _table(tmp_path, run={"run": "a"})
    run(items[:4], Job(_Echo, batch_size=2), engine=_Backwards(), table=table)
    seen = []
    engine = _Backwards()
    summary = run(items, Job(_Echo, batch_size=2), engine=engine, table=table, on_rows=seen.append)
    assert summary.already_done == 4 and summary.processed == 3 and summary.rows == 7
    assert seen[0] == 4 and sum(seen) == 7  # a progress bar starts at the rows already there
    assert engine.batches_seen == 2
    assert list(pd.read_csv(tmp_path / "rows.csv")["image"]) == [f"img{i}" for i in range(7)]


def test_rows_of_another_run_are_refused_or_restarted_as_the_table_says(tmp_path):
    items = _items(3)
    run(items, Job(_Echo), engine=_Backwards(), table=_table(tmp_path, run={"run": "a"}))
    with pytest.raises(OutputError, match="another run"):
        run(items, Job(_Echo), engine=_Backwards(), table=_table(tmp_path, run={"run": "b"}))
    summary = run(
        items,
        Job(_Echo),
        engine=_Backwards(),
        table=_table(tmp_path, run={"run": "b"}, restart_stale=True),
    )
    assert summary.already_done == 0 and summary.processed == 3
    assert set(pd.read_csv(tmp_path / "rows.csv")["run"]) == {"b"}


def test_without_a_table_rows_come_back_in_input_order_in_memory(tmp_path):
    collected = []
    summary = run(
        _items(5), Job(_Echo, batch_size=2), engine=_Backwards(), collect=collected.extend
    )
    assert [r["image"] for r in collected] == [f"img{i}" for i in range(5)]
    assert summary.rows == 5 and not list(tmp_path.iterdir())


def test_batched_numbers_items_from_zero():
    batches = batched(_items(5), 2)
    assert [[i for i, _ in b] for b in batches] == [[0, 1], [2, 3], [4]]


def test_a_parquet_folder_is_written_in_whole_parts_and_resumed(tmp_path, monkeypatch):
    import photoqc.pipelines.batch.outputs as outputs

    monkeypatch.setattr(outputs, "PART_ROWS", 4)
    table = TableSpec(
        out=tmp_path / "parts",
        columns=["image", "status", "error", "value", "run"],
        run={"run": "a"},
        text_columns=("image", "status", "error", "run"),
        folder=True,
    )
    items = _items(10)
    stop_after = {"rows": 0}

    def stop(n):
        stop_after["rows"] += n
        if stop_after["rows"] >= 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(items, Job(_Echo, batch_size=2), engine=_Backwards(), table=table, on_rows=stop)
    kept = pd.read_parquet(tmp_path / "parts")
    assert len(kept) == 6 and not list((tmp_path / "parts").glob(".*.tmp"))
    summary = run(items, Job(_Echo, batch_size=2), engine=_Backwards(), table=table)
    assert summary.already_done == 6 and summary.processed == 4
    written = pd.read_parquet(tmp_path / "parts")
    assert sorted(written["image"]) == sorted(f"img{i}" for i in range(10))
    assert written["value"].dtype == "float64" and set(written["run"]) == {"a"}
    with pytest.raises(OutputError, match="another run"):
        run(
            items,
            Job(_Echo),
            engine=_Backwards(),
            table=TableSpec(**{**table.__dict__, "run": {"run": "b"}}),
        )


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_manifest_streams_a_chunk_at_a_time(tmp_path, monkeypatch, suffix):
    from photoqc.pipelines.batch.inputs import Manifest, collect_inputs

    path = tmp_path / f"manifest{suffix}"
    table = pd.DataFrame({"image": [f"photos/{i}.jpg" for i in range(1000)], "id": range(1000)})
    table.to_parquet(path) if suffix == ".parquet" else table.to_csv(path, index=False)
    monkeypatch.setattr(Manifest, "CHUNK_ROWS", 100)
    read = []
    chunks = Manifest._chunks

    def counted(self):
        for names, carried in chunks(self):
            read.append(len(names))
            yield names, carried

    monkeypatch.setattr(Manifest, "_chunks", counted)
    manifest = collect_inputs(path).items
    assert len(manifest) == 1000 and isinstance(manifest, Manifest)
    read.clear()  # opening counted the rows
    first = list(itertools.islice(iter(manifest), 150))
    assert read == [100, 100]  # two chunks read for 150 rows, not the whole file
    assert first[149].image == "photos/149.jpg"
    assert str(first[0].source) == str(tmp_path / "photos" / "0.jpg")
    summary = run(manifest, Job(_Named, batch_size=50), engine=_Backwards(), collect=lambda _: None)
    assert summary.processed == 1000


class _Named(_Echo):
    def rows(self, items):
        return [{"image": i.image, "status": "ok", "error": "", "value": 0.0} for i in items]
