"""The offline demo trains on scikit-image's photos and scores held-out scenes well."""

from __future__ import annotations

import pandas as pd
import pytest


def test_demo_held_out_roc_auc_is_high_in_a_small_configuration(demo_run):
    assert demo_run.holdout_roc_auc > 0.85, demo_run.holdout_roc_auc
    labels = pd.read_csv(demo_run.model_dir.parent / "holdout.csv")
    scores = pd.read_csv(demo_run.scores_csv)
    assert len(scores) == len(labels) == demo_run.counts["holdout"]
    # Held-out scenes were never trained on.
    trained = pd.read_csv(demo_run.model_dir.parent / "labels.csv")
    assert not set(trained["photo"]) & set(labels["photo"])
    assert {"good", "bad"} == set(labels["label"])


@pytest.mark.slow
def test_demo_cli_prints_the_held_out_roc_auc(tmp_path):
    from typer.testing import CliRunner

    from photoqc.cli import app

    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--out",
            str(tmp_path / "d"),
            "--segmenter",
            "none",
            "--crops",
            "1",
            "--workers",
            "1",
            "--no-nima",  # the session's demo model already trains with NIMA
        ],
    )
    assert result.exit_code == 0, result.output
    assert "held-out ROC-AUC" in result.output
    value = float(result.output.split("held-out ROC-AUC")[1].split()[0])
    assert value > 0.85
    assert (tmp_path / "d" / "scores.csv").is_file()
