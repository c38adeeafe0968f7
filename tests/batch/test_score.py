"""Batch scoring: one row per input, resumable after a kill, model used as trained."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from photoqc.assess.recipe import RecipeOptions
from photoqc.assess.scorer import Scorer
from photoqc.cli import app
from photoqc.models.bundle import load_bundle
from photoqc.pipelines.batch.inputs import InputItem, collect_inputs
from photoqc.pipelines.batch.outputs import OutputError, ResumableCsv
from photoqc.pipelines.batch.score import score_to_csv

runner = CliRunner()


@pytest.fixture
def photos(demo_run, tmp_path) -> Path:
    """24 demo photos plus two broken files, in a folder."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in sorted((demo_run.model_dir.parent / "images").glob("coffee_*"))[:24]:
        shutil.copy(path, folder / path.name)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "empty.png").write_bytes(b"")
    return folder


def _check_complete(out: Path, folder: Path) -> pd.DataFrame:
    table = pd.read_csv(out, keep_default_na=False, na_values=[""])
    expected = {str(p) for p in folder.iterdir()}
    assert len(table) == len(expected), "a row per input, no more, no fewer"
    assert set(table["image"]) == expected
    assert table["image"].is_unique
    return table


def test_score_writes_one_row_per_input_with_verdicts_and_reasons(demo_run, photos, tmp_path):
    out = tmp_path / "scores.csv"
    result = runner.invoke(
        app, ["score", str(photos), "--model", str(demo_run.model_dir), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    table = _check_complete(out, photos)
    assert list(table.columns[:8]) == [
        "image",
        "status",
        "error",
        "p_good",
        "verdict",
        "threshold",
        "reasons",
        "segmenter",
    ]
    ok = table[table["status"] == "ok"]
    assert len(ok) == 24
    assert set(ok["verdict"]) == {"good", "bad"}
    assert ((ok["p_good"] >= ok["threshold"]) == (ok["verdict"] == "good")).all()
    assert (ok["segmenter"] == "none").all()
    bad_with_reasons = ok[(ok["verdict"] == "bad") & (ok["p_good"] < 0.2)]
    assert len(bad_with_reasons) and (bad_with_reasons["reasons"].str.len() > 10).all()
    errors = table[table["status"] == "error"].set_index(
        table[table["status"] == "error"]["image"].map(lambda s: Path(s).name)
    )
    assert "not a recognised image format" in errors.loc["broken.jpg", "error"]
    assert "empty file" in errors.loc["empty.png", "error"]
    assert errors["verdict"].isna().all()
    assert "26 scored now" in result.output


def test_killed_score_run_resumes_without_losing_or_repeating_rows(demo_run, photos, tmp_path):
    out = tmp_path / "scores.csv"
    command = [
        sys.executable,
        "-m",
        "photoqc.cli",
        "score",
        str(photos),
        "--model",
        str(demo_run.model_dir),
        "--out",
        str(out),
        "--batch-size",
        "1",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if out.exists() and len(out.read_text().splitlines()) >= 4:  # header + 3 rows
                break
            if process.poll() is not None:
                pytest.fail("the scoring run ended before it could be killed")
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    partial = len(pd.read_csv(out))
    assert 3 <= partial < 26, partial
    # A kill can also land mid-write: leave half a row at the end.
    with out.open("a") as handle:
        handle.write(str(photos / "coffee_0_clean_000.jpg") + ",ok,,0.9")
    result = runner.invoke(
        app,
        [
            "score",
            str(photos),
            "--model",
            str(demo_run.model_dir),
            "--out",
            str(out),
            "--batch-size",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"{partial} already there" in result.output
    _check_complete(out, photos)


def test_interrupted_in_process_run_resumes(demo_run, photos, tmp_path):
    scorer, _ = Scorer.from_model(demo_run.model_dir, RecipeOptions(offline=True, batch_size=4))
    items = collect_inputs(photos).items
    out = tmp_path / "s.csv"
    written = []

    def stop_after_two_batches(n):
        written.append(n)
        if len(written) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_to_csv(items, scorer, out, on_rows=stop_after_two_batches)
    assert len(pd.read_csv(out)) == 8
    summary = score_to_csv(items, scorer, out)
    assert summary.already_done == 8 and summary.processed == 18
    _check_complete(out, photos)


def test_resuming_with_other_columns_is_refused(demo_run, photos, tmp_path):
    out = tmp_path / "s.csv"
    out.write_text("image,status\nx,ok\n")
    result = runner.invoke(
        app, ["score", str(photos), "--model", str(demo_run.model_dir), "--out", str(out)]
    )
    assert result.exit_code == 1 and "exists with other columns" in result.output
    with pytest.raises(OutputError):
        ResumableCsv(out, ["image", "status", "p_good"])


def test_shap_columns_sum_to_the_margin(demo_run, photos, tmp_path):
    import numpy as np

    out = tmp_path / "s.csv"
    result = runner.invoke(
        app, ["score", str(photos), "--model", str(demo_run.model_dir), "--out", str(out), "--shap"]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    ok = table[table["status"] == "ok"]
    # The sums below say nothing about an empty table: every readable photo is in it.
    assert len(ok) == 24 and ok["p_good"].notna().all()
    shap_columns = [c for c in table.columns if c.startswith("shap_")]
    from photoqc.models.bundle import load_bundle

    bundle = load_bundle(demo_run.model_dir)
    assert shap_columns == [f"shap_{n}" for n in bundle.feature_names]
    _, expected = bundle.contributions(ok)
    margin = ok[shap_columns].sum(axis=1).to_numpy() + expected
    np.testing.assert_allclose(1 / (1 + np.exp(-margin)), ok["p_good"], atol=1e-6)


def test_another_segmenter_is_refused_unless_allowed(demo_run, photos, tmp_path):
    out = tmp_path / "s.csv"
    args = [
        "score",
        str(photos),
        "--model",
        str(demo_run.model_dir),
        "--out",
        str(out),
        "--segmenter",
        "grabcut",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "trained with the 'none' segmenter" in result.output
    result = runner.invoke(app, [*args, "--allow-segmenter-mismatch"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert set(table.loc[table["status"] == "ok", "segmenter"]) == {"grabcut"}


def test_two_workers_score_every_input_once(demo_run, photos, tmp_path):
    out = tmp_path / "s.csv"
    result = runner.invoke(
        app,
        [
            "score",
            str(photos),
            "--model",
            str(demo_run.model_dir),
            "--out",
            str(out),
            "--workers",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    _check_complete(out, photos)


def test_duplicate_inputs_each_get_a_row(demo_run, photos, tmp_path):
    listing = tmp_path / "list.csv"
    name = sorted(photos.glob("coffee_*"))[0]
    listing.write_text(f"image\n{name}\n{name}\n")
    scorer, _ = Scorer.from_model(demo_run.model_dir, RecipeOptions(offline=True))
    items = [InputItem(str(name), name)] * 2
    out = tmp_path / "s.csv"
    score_to_csv(items, scorer, out)
    assert len(pd.read_csv(out)) == 2
    assert score_to_csv(items, scorer, out).processed == 0


def _score(photos, model, out, *extra):
    return runner.invoke(
        app, ["score", str(photos), "--model", str(model), "--out", str(out), *extra]
    )


def test_resuming_rows_of_another_threshold_model_or_recipe_is_refused(demo_run, photos, tmp_path):
    # Found in a user trial: score, then `tune --write` a stricter threshold, then score
    # more photos into the same CSV. The old rows kept their verdicts at the old threshold
    # beside new rows at the new one, silently.
    model = tmp_path / "m"
    shutil.copytree(demo_run.model_dir, model)
    out = tmp_path / "s.csv"
    first = sorted(photos.glob("coffee_*"))[:6]
    some = tmp_path / "some"
    some.mkdir()
    for path in first:
        shutil.copy(path, some / path.name)
    assert _score(some, model, out).exit_code == 0
    table = pd.read_csv(out)
    assert set(table["model_sha256"]) == {load_bundle(model).sha256}
    assert table["recipe"].nunique() == 1 and table["threshold"].nunique() == 1

    from photoqc.pipelines.review.tune import write_threshold

    write_threshold(model, 0.99, "stricter, for the test")
    result = _score(some, model, out)
    assert result.exit_code == 1
    assert "another threshold" in result.output and "--overwrite" in result.output
    assert len(pd.read_csv(out)) == len(first), "nothing was appended"

    # Another model (another training seed: another model file) is refused too.
    other = tmp_path / "other"
    labels = demo_run.model_dir.parent / "labels.csv"
    options = ["-s", "none", "--no-nima", "--folds", "3", "--seed", "7", "--no-cache"]
    result = runner.invoke(app, ["train", str(labels), "--out", str(other), *options])
    assert result.exit_code == 0, result.output
    result = _score(some, other, out)
    assert result.exit_code == 1 and "another model" in result.output

    # --overwrite starts again with the current threshold everywhere.
    result = _score(some, model, out, "--overwrite")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert (table["threshold"] == 0.99).all() and (table["verdict"] == "bad").all()


def test_resuming_with_other_feature_settings_is_refused(demo_run, photos, tmp_path):
    out = tmp_path / "s.csv"
    assert _score(photos, demo_run.model_dir, out).exit_code == 0
    result = _score(
        photos, demo_run.model_dir, out, "--segmenter", "grabcut", "--allow-segmenter-mismatch"
    )
    assert result.exit_code == 1
    assert "other feature settings" in result.output and "--overwrite" in result.output


def test_reasons_are_structured_data_and_only_for_bad_verdicts(demo_run, photos, tmp_path):
    import json

    out = tmp_path / "s.csv"
    assert _score(photos, demo_run.model_dir, out).exit_code == 0
    table = pd.read_csv(out, keep_default_na=False)
    ok = table[table["status"] == "ok"]
    for _, row in ok.iterrows():
        reasons = json.loads(row["reasons_json"])
        assert isinstance(reasons, list)
        if row["verdict"] == "good":
            assert reasons == [] and row["reasons"] == ""
        for reason in reasons:
            assert set(reason) == {"family", "text", "feature", "value", "typical"}
            assert reason["text"] in row["reasons"] and reason["feature"] in table.columns
            assert reason["value"] == pytest.approx(float(row[reason["feature"]]), rel=1e-6)
        # The text column is the same reasons, in the same order.
        assert row["reasons"] == "; ".join(r["text"] for r in reasons)
    assert any(json.loads(r) for r in ok["reasons_json"]), "some bad photo has reasons"
