"""Threshold tuning (maths, CLI, notebook) and the moderator report in a real browser."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from photoqc.cli import app
from photoqc.pipelines.labels import read_labels
from photoqc.pipelines.tune import (
    choose_by_min_cost,
    choose_by_target_precision,
    threshold_table,
    write_threshold,
)

runner = CliRunner()
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "threshold_tuning.ipynb"
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


# --- the maths, on a hand-made example ------------------------------------------------

IS_GOOD = np.array([True, True, True, False, False])
P_GOOD = np.array([0.9, 0.8, 0.4, 0.6, 0.1])


def test_threshold_table_counts_and_costs_by_hand():
    table = threshold_table(IS_GOOD, P_GOOD, cost_accept_bad=5, cost_reject_good=1).set_index(
        "threshold"
    )
    row = table.loc[0.6]  # accepts 0.9, 0.8, 0.6: two good, one bad
    assert (row["accepted"], row["wrongly_accepted"], row["wrongly_rejected"]) == (3, 1, 1)
    assert row["precision"] == pytest.approx(2 / 3) and row["recall"] == pytest.approx(2 / 3)
    assert row["cost"] == 6 and row["cost_per_photo"] == pytest.approx(6 / 5)
    assert table.loc[0.1, "cost"] == 10  # everything accepted: two bad photos published
    assert table.loc[0.8, "cost"] == 1  # only the 0.4 good photo rejected
    assert table.iloc[-1]["accepted"] == 0 and table.iloc[-1]["cost"] == 3


def test_rules_choose_the_expected_thresholds():
    table = threshold_table(IS_GOOD, P_GOOD, cost_accept_bad=5, cost_reject_good=1)
    assert choose_by_min_cost(table)["threshold"] == 0.8
    assert choose_by_target_precision(table, 1.0)["threshold"] == 0.8
    assert choose_by_target_precision(table, 0.75)["threshold"] == 0.4
    cheap_rejects = threshold_table(IS_GOOD, P_GOOD, cost_accept_bad=1, cost_reject_good=5)
    assert choose_by_min_cost(cheap_rejects)["threshold"] == 0.4


def test_write_threshold_keeps_the_history(demo_run, tmp_path):
    model = tmp_path / "m"
    shutil.copytree(demo_run.model_dir, model)
    original = json.loads((model / "photoqc.json").read_text())["threshold"]
    write_threshold(model, 0.7, "test one")
    meta = write_threshold(model, 0.8, "test two")
    assert meta["threshold"] == 0.8 and meta["threshold_rule"] == "test two"
    assert [h["threshold"] for h in meta["threshold_history"]] == [original, 0.7]
    assert meta["threshold_history"][1]["rule"] == "test one"
    assert all(h["replaced"] for h in meta["threshold_history"])


# --- CLI and notebook agree -----------------------------------------------------------


@pytest.fixture
def scored(demo_run):
    return demo_run.scores_csv, demo_run.model_dir.parent / "holdout.csv"


def test_cli_tune_prints_the_table_and_writes(scored, demo_run, tmp_path):
    scores, labels = scored
    model = tmp_path / "m"
    shutil.copytree(demo_run.model_dir, model)
    result = runner.invoke(
        app,
        [
            "tune",
            str(scores),
            "--labels",
            str(labels),
            "--model",
            str(model),
            "--cost-accept-bad",
            "3",
            "--cost-reject-good",
            "1",
            "--write",
        ],
    )
    assert result.exit_code == 0, result.output
    chosen = float(re.search(r"chosen threshold ([0-9.]+)", result.output).group(1))
    meta = json.loads((model / "photoqc.json").read_text())
    assert meta["threshold"] == pytest.approx(chosen, abs=1e-6)
    assert "minimum cost" in meta["threshold_rule"] and len(meta["threshold_history"]) == 1
    for word in ("precision", "recall", "cost"):
        assert word in result.output


def test_cli_tune_needs_exactly_one_rule(scored, demo_run):
    scores, labels = scored
    result = runner.invoke(
        app, ["tune", str(scores), "--labels", str(labels), "--model", str(demo_run.model_dir)]
    )
    assert result.exit_code == 2 and "either --target-precision" in result.output


@pytest.mark.parametrize("rule", [["-p", "target_precision", "0.9"], []], ids=["precision", "cost"])
def test_notebook_writes_the_same_threshold_as_the_cli(scored, demo_run, tmp_path, rule):
    papermill = pytest.importorskip("papermill", reason="papermill not installed")
    scores, labels = scored
    by_cli, by_notebook = tmp_path / "cli", tmp_path / "nb"
    shutil.copytree(demo_run.model_dir, by_cli)
    shutil.copytree(demo_run.model_dir, by_notebook)
    cli_rule = (
        ["--target-precision", "0.9"]
        if rule
        else ["--cost-accept-bad", "5", "--cost-reject-good", "1"]
    )
    result = runner.invoke(
        app,
        [
            "tune",
            str(scores),
            "--labels",
            str(labels),
            "--model",
            str(by_cli),
            *cli_rule,
            "--write",
        ],
    )
    assert result.exit_code == 0, result.output
    parameters = {
        "scores_csv": str(scores),
        "labels_csv": str(labels),
        "model_dir": str(by_notebook),
        "cost_accept_bad": 5.0,
        "cost_reject_good": 1.0,
    }
    if rule:
        parameters["target_precision"] = 0.9
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "out.ipynb"),
        parameters=parameters,
        kernel_name="python3",
        progress_bar=False,
    )
    cli_meta = json.loads((by_cli / "photoqc.json").read_text())
    nb_meta = json.loads((by_notebook / "photoqc.json").read_text())
    original = json.loads((demo_run.model_dir / "photoqc.json").read_text())["threshold"]
    assert nb_meta["threshold"] == cli_meta["threshold"] != original
    assert nb_meta["threshold_history"][0]["threshold"] == original


# --- the report -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(demo_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    result = runner.invoke(
        app,
        ["report", str(demo_run.scores_csv), "--out", str(out), "--model", str(demo_run.model_dir)],
    )
    assert result.exit_code == 0, result.output
    return out


def test_report_is_self_contained(report, demo_run):
    html = report.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html and "@import" not in html
    data = json.loads(
        re.search(
            r'<script id="photoqc-data" type="application/json">(.*?)</script>', html, re.S
        ).group(1)
    )
    assert len(data["rows"]) == len(pd.read_csv(demo_run.scores_csv))
    assert all(r["thumb"].startswith("data:image/jpeg;base64,") for r in data["rows"])
    assert any(r["shap"] for r in data["rows"])


@pytest.fixture
def page(report):
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (CI installs Debian's chromium package)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        page.goto(report.as_uri())
        yield page
        browser.close()


def test_filtering_by_verdict_hides_the_other_rows(page, demo_run):
    scores = pd.read_csv(demo_run.scores_csv)
    assert page.locator("tr.row").count() == min(len(scores), 100)
    page.select_option("#verdict-filter", "bad")
    verdicts = page.locator("tr.row").evaluate_all("rows => rows.map(r => r.dataset.verdict)")
    assert verdicts and set(verdicts) == {"bad"}
    assert len(verdicts) == min(int((scores["verdict"] == "bad").sum()), 100)
    page.select_option("#verdict-filter", "good")
    assert set(page.locator("tr.row").evaluate_all("rows => rows.map(r => r.dataset.verdict)")) == {
        "good"
    }


def test_filtering_by_reason_and_sorting(page):
    options = page.locator("#reason-filter option").evaluate_all("o => o.map(x => x.value)")
    key = options[1]
    page.select_option("#reason-filter", key)
    texts = page.locator("tr.row ul.reasons").all_inner_texts()
    assert texts and all(key in t for t in texts)
    page.select_option("#reason-filter", "all")
    page.click("th[data-sort=p_good]")
    values = [float(v) for v in page.locator("tr.row td:nth-child(4)").all_inner_texts() if v]
    assert values == sorted(values, reverse=True) or values == sorted(values)


def test_detail_view_shows_reasons_and_shap_bars(page):
    page.select_option("#verdict-filter", "bad")
    first = page.locator("tr.row").first
    reason = first.locator("ul.reasons li").first.inner_text()
    first.click()
    detail = page.locator("#detail")
    assert detail.is_visible()
    assert reason in page.locator("#detail-reasons").inner_text()
    assert page.locator("#detail-shap .bar").count() > 3
    assert page.locator("#detail-image").get_attribute("src").startswith("data:image/jpeg")
    page.click("#detail-close")
    assert not detail.is_visible()


def _export(page, path):
    with page.expect_download() as download:
        page.click("#export")
    download.value.save_as(path)
    return path


def test_marks_export_as_a_labels_csv_that_train_reads(page, tmp_path):
    rows = page.locator("tr.row")
    rows.nth(0).locator("button.mark-good").click()
    rows.nth(1).locator("button.mark-bad").click()
    assert "2 marked" in page.locator("#mark-count").inner_text()
    labels = read_labels(_export(page, tmp_path / "two.csv"))
    assert labels.kind == "label" and sorted(labels.target.tolist()) == [0.0, 1.0]
    assert all(p.is_absolute() and p.is_file() for p in labels.paths)
    # Two more marks and the export trains a model.
    rows.nth(2).locator("button.mark-good").click()
    rows.nth(3).locator("button.mark-bad").click()
    four = _export(page, tmp_path / "four.csv")
    result = runner.invoke(
        app, ["train", str(four), "--out", str(tmp_path / "m"), "-s", "none", "--no-cache"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m" / "photoqc.json").is_file()


def test_scores_with_relative_paths_join_labels_from_another_folder(
    demo_run, tmp_path, monkeypatch
):
    from photoqc.pipelines.tune import join_scores_labels

    # Scores written from the demo folder hold paths relative to it; labels use absolute paths.
    scores = pd.read_csv(demo_run.scores_csv)
    folder = demo_run.model_dir.parent
    monkeypatch.chdir(folder)
    labels = pd.read_csv(folder / "holdout.csv")
    labels["image"] = [str(folder / p) for p in labels["image"]]
    labels_csv = tmp_path / "labels.csv"
    labels[["image", "label"]].to_csv(labels_csv, index=False)
    joined = join_scores_labels(demo_run.scores_csv, labels_csv)
    assert len(joined) == len(scores)
