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
from photoqc.pipelines.review.tune import (
    choose_by_min_cost,
    choose_by_target_precision,
    threshold_table,
    write_threshold,
)
from photoqc.pipelines.training.labels import read_labels

runner = CliRunner()
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "threshold_tuning.ipynb"
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
        "write": True,  # False by default, like the CLI's --write
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
def page(report, browser):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.goto(report.as_uri())
    return page


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


@pytest.mark.slow
def test_filtering_by_reason_and_sorting(page):
    options = page.locator("#reason-filter option").evaluate_all("o => o.map(x => x.value)")
    assert "nan" not in options and "" not in options
    key = options[1]
    page.select_option("#reason-filter", key)
    families = page.locator("tr.row ul.reasons").evaluate_all(
        "lists => lists.map(l => [...l.children].map(li => li.dataset.family))"
    )
    assert families and all(key in f for f in families)
    page.select_option("#reason-filter", "all")
    page.click("th[data-sort=p_good]")
    values = [float(v) for v in page.locator("tr.row td:nth-child(4)").all_inner_texts() if v]
    assert values == sorted(values, reverse=True) or values == sorted(values)


@pytest.mark.slow
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


@pytest.mark.slow
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
    from photoqc.pipelines.review.tune import join_scores_labels

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


# --- the report shows the model as it is now -------------------------------------------


def _payload(html_path: Path) -> dict:
    html = html_path.read_text()
    text = re.search(
        r'<script id="photoqc-data" type="application/json">(.*?)</script>', html, re.S
    ).group(1)
    return json.loads(text)


def test_report_with_the_model_uses_its_current_threshold(demo_run, tmp_path):
    # Found in a user trial: after `tune --write` the report still counted verdicts at the
    # threshold written into the CSV when it was scored.
    model = tmp_path / "m"
    shutil.copytree(demo_run.model_dir, model)
    write_threshold(model, 0.995, "strict, for the test")
    out = tmp_path / "r.html"
    result = runner.invoke(
        app, ["report", str(demo_run.scores_csv), "--out", str(out), "--model", str(model)]
    )
    assert result.exit_code == 0, result.output
    data = _payload(out)
    ok = [r for r in data["rows"] if r["status"] == "ok"]
    assert all(r["threshold"] == 0.995 for r in ok)
    assert all(r["verdict"] == ("good" if r["p_good"] >= 0.995 else "bad") for r in ok)
    assert "current threshold 0.995" in data["threshold_note"]
    bad = sum(r["verdict"] == "bad" for r in ok)
    assert f"{bad} bad" in result.output
    scores = pd.read_csv(demo_run.scores_csv)
    assert bad > int((scores["verdict"] == "bad").sum()), "the stricter threshold shows"
    # Photos that turned bad get reasons computed from their features.
    assert any(r["reasons"] for r in ok if r["p_good"] >= demo_run.outcome.bundle.threshold)


def test_report_without_the_model_says_which_threshold_it_shows(demo_run, tmp_path):
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(demo_run.scores_csv), "--out", str(out)])
    assert result.exit_code == 0, result.output
    threshold = pd.read_csv(demo_run.scores_csv)["threshold"].iloc[0]
    note = _payload(out)["threshold_note"]
    assert f"threshold {threshold:.3f}" in note and "--model" in note
    assert "as written in the scores CSV" in result.output


def test_report_reasons_are_the_csv_reasons_never_resplit_or_nan(demo_run, tmp_path):
    scores = pd.read_csv(demo_run.scores_csv, keep_default_na=False)
    # A reason whose text holds "; " (as "(-0.30; good photos: ~0.05)" does) and a row
    # without reasons: the old report split the first into two bullets and showed "nan".
    reason = {
        "family": "object vs background",
        "text": "object much darker than the background (-0.30; good photos: ~0.05)",
        "feature": "object_background_brightness_diff",
        "value": -0.3,
        "typical": 0.05,
    }
    scores.loc[0, ["reasons", "reasons_json", "verdict"]] = [
        reason["text"],
        json.dumps([reason]),
        "bad",
    ]
    scores.loc[1, ["reasons", "reasons_json"]] = ["", "[]"]
    edited = tmp_path / "scores.csv"
    scores.to_csv(edited, index=False)
    out = tmp_path / "r.html"
    assert runner.invoke(app, ["report", str(edited), "--out", str(out)]).exit_code == 0
    rows = _payload(out)["rows"]
    assert rows[0]["reasons"] == [reason]
    assert rows[1]["reasons"] == []
    texts = [r["text"] for row in rows for r in row["reasons"]]
    assert all(t and t != "nan" and not t.startswith("good photos") for t in texts)


def test_report_masks_are_drawn_with_the_model_recipe_segmenter(demo_run, tmp_path, coffee):
    from photoqc.models.bundle import ModelBundle, load_bundle
    from photoqc.pipelines.review.report import overlay_segmenter
    from photoqc.segmentation import build_segmenter
    from photoqc.segmentation.registry import GRABCUT

    model = tmp_path / "m"
    shutil.copytree(demo_run.model_dir, model)
    bundle = load_bundle(model)
    settings = {"long_side": 120, "margin": 0.3, "iterations": 2}
    assert settings != dict(GRABCUT.defaults)
    bundle.meta["feature_config"]["segmenter"] = {
        "kind": "grabcut",
        "settings": settings,
        "weights": None,
    }
    ModelBundle(bundle.booster, bundle.meta, readout=bundle.readout, heads=bundle.heads).save(model)
    config = overlay_segmenter(load_bundle(model))
    assert config.kind == "grabcut" and config.settings == settings
    # The mask the report draws is the recipe's, not GrabCut's default one.
    ours = build_segmenter(config).segment(coffee).mask
    default = build_segmenter(type(config)(kind="grabcut")).segment(coffee).mask
    assert ours is not None and default is not None and (ours != default).mean() > 0.01


def test_report_shap_bars_say_what_each_feature_measures(report, demo_run):
    from photoqc.models.bundle import load_bundle

    names = set(load_bundle(demo_run.model_dir).feature_names)
    bars = [bar for row in _payload(report)["rows"] for bar in row["shap"]]
    assert bars
    for bar in bars:
        assert bar["label"] not in names and bar["family"]
        assert bar["says"] == ("pushes towards good" if bar["push"] >= 0 else "pushes towards bad")


def test_detail_bars_say_words_and_directions_not_column_names(page, demo_run):
    from photoqc.models.bundle import load_bundle

    page.select_option("#verdict-filter", "bad")
    page.locator("tr.row").first.click()
    shown = page.locator("#detail").inner_text()
    assert "pushes towards bad" in shown and "pushes towards good" in shown
    assert "log-odds" not in shown
    bars = page.locator("#detail-shap").inner_text()
    # Column names are identifiers with underscores; a one-word name ("contrast") is also
    # the family's own word, which the bars rightly say.
    names = [n for n in load_bundle(demo_run.model_dir).feature_names if "_" in n]
    assert not [n for n in names if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", bars)]
    assert not re.search(r"MSCN|Laplacian|\bluma\b|3x3|\bnan\b", bars, re.IGNORECASE), bars
    assert "good photos: ~" in bars and " = " in bars  # each bar: its value and the typical one
    scale = page.locator("#detail-scale").inner_text()
    assert "push on the quality score" in scale and re.search(r"\+\d+\.\d\d", scale)
    assert "quality score" in page.locator("#detail-verdict").inner_text()
    assert "p_good" not in page.locator("#detail-verdict").inner_text()
    assert "technical details" in page.locator("#detail-technical").inner_text()


def test_report_reads_well_on_a_420_px_wide_screen(report, browser, tmp_path):
    context = browser.new_context(viewport={"width": 420, "height": 900})
    page = context.new_page()
    page.goto(report.as_uri())
    page.select_option("#verdict-filter", "bad")
    shot = tmp_path / "narrow.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000
    reasons = page.locator("tr.row td.reasons-cell").first.bounding_box()
    assert reasons is not None and reasons["width"] > 150, reasons
    # Nothing sticks out sideways: no horizontal scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    thumb = page.locator("tr.row td.thumb img").first.bounding_box()
    assert thumb is not None and thumb["x"] >= 0 and thumb["x"] + thumb["width"] <= 420
    page.locator("tr.row").first.click()
    panel = page.locator("#detail .panel").bounding_box()
    assert panel is not None and panel["width"] <= 420
    image = page.locator("#detail-image").bounding_box()
    assert image is not None and image["width"] > 300  # the photo gets the width


def test_tune_checks_its_rule_itself_before_reading_any_file(tmp_path):
    """The notebook calls tune() directly: it is guarded as the CLI is."""
    from photoqc.pipelines.review.tune import TuneRuleError, tune

    missing = tmp_path / "missing.csv"
    notebook = {
        name: f"-p {name}" for name in ("target_precision", "cost_accept_bad", "cost_reject_good")
    }
    with pytest.raises(TuneRuleError, match="give either target_precision P"):
        tune(missing, missing)
    with pytest.raises(TuneRuleError, match="give either"):
        tune(missing, missing, target_precision=0.9, cost_accept_bad=5, cost_reject_good=1)
    with pytest.raises(TuneRuleError, match="give either"):
        tune(missing, missing, cost_accept_bad=5)
    with pytest.raises(TuneRuleError, match=r"-p target_precision must be in \(0, 1\]"):
        tune(missing, missing, target_precision=1.5, names=notebook)
    with pytest.raises(TuneRuleError, match="not both 0"):
        tune(missing, missing, cost_accept_bad=0, cost_reject_good=0)
    assert TuneRuleError.exit_code == 2


def test_tune_defaults_to_the_built_in_model_and_writes_it_only_to_a_copy(scored, tmp_path):
    from photoqc.models.bundle import default_model_dir

    scores, labels = scored
    before = (default_model_dir() / "photoqc.json").read_bytes()
    base = ["tune", str(scores), "--labels", str(labels), "--target-precision", "0.8"]
    looked = runner.invoke(app, base)
    assert looked.exit_code == 0, looked.output
    assert "tuning the built-in model" in " ".join(looked.output.split())
    refused = runner.invoke(app, [*base, "--write"])
    assert refused.exit_code == 2 and "--out DIR" in " ".join(refused.output.split())
    copy = tmp_path / "tuned"
    written = runner.invoke(app, [*base, "--write", "--out", str(copy)])
    assert written.exit_code == 0, written.output
    meta = json.loads((copy / "photoqc.json").read_text())
    chosen = float(re.search(r"chosen threshold ([0-9.]+)", written.output).group(1))
    assert meta["threshold"] == pytest.approx(chosen, abs=1e-6)
    assert (default_model_dir() / "photoqc.json").read_bytes() == before  # untouched
    # A threshold above every photo's p_good publishes nothing: said in words, not nan.
    assert "nan" not in looked.output
