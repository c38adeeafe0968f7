"""The command line: one row per input file, always; clear errors; helpful help."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import encode, synthetic_scene
from typer.testing import CliRunner

from photoqc.assess.extractor import ExtractConfig
from photoqc.cli import app
from photoqc.features import feature_names

runner = CliRunner()


@pytest.fixture
def mixed_folder(tmp_path, astronaut, chelsea):
    """Three good photos (one in a subfolder) and four broken files, plus a non-image."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    (folder / "astronaut.jpg").write_bytes(encode(astronaut, "JPEG", quality=85))
    (folder / "sub" / "cat.png").write_bytes(encode(chelsea))
    scene, _ = synthetic_scene()
    (folder / "scene.webp").write_bytes(encode(scene, "WEBP", quality=90))
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.png").write_text("not an image")
    blob = encode(chelsea, "JPEG", quality=90)
    (folder / "sub" / "cut.jpg").write_bytes(blob[:2000])
    (folder / "noise.jpeg").write_bytes(np.random.default_rng(0).bytes(3000))
    (folder / "readme.txt").write_text("ignored: not an image extension")
    return folder


def _run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_folder_with_good_and_broken_files_gives_one_row_per_file(mixed_folder, tmp_path, suffix):
    out = tmp_path / f"features{suffix}"
    result = _run("features", str(mixed_folder), "--out", str(out), "--segmenter", "grabcut")
    assert result.exit_code == 0, result.output
    table = (
        pd.read_parquet(out)
        if suffix == ".parquet"
        else pd.read_csv(out, keep_default_na=False, na_values=[""])
    )
    assert list(table.columns) == list(ExtractConfig().columns())
    assert set(feature_names()) < set(table.columns)
    assert len(table) == 7  # readme.txt is not an image file
    assert table["image"].is_unique
    by_name = {
        name.rsplit("/", 1)[-1]: row
        for name, row in zip(table["image"], table.to_dict("records"), strict=True)
    }
    for good in ("astronaut.jpg", "cat.png", "scene.webp"):
        assert by_name[good]["status"] == "ok"
        assert by_name[good]["segmenter"] == "grabcut"
        assert 0 < by_name[good]["brightness"] < 1
    assert by_name["scene.webp"]["object_found"] == 1.0
    expected_errors = {
        "empty.jpg": "empty file",
        "notes.png": "not a recognised image format",
        "cut.jpg": "truncated",
        "noise.jpeg": "not a recognised image format",
    }
    for name, message in expected_errors.items():
        row = by_name[name]
        assert row["status"] == "error"
        assert message in row["error"]
        assert math.isnan(row["brightness"])
    assert "7 rows" in result.output and "3 ok, 4 errors" in result.output


def test_fail_on_error_exit_code(mixed_folder, tmp_path):
    result = _run(
        "features",
        str(mixed_folder),
        "-o",
        str(tmp_path / "f.csv"),
        "-s",
        "none",
        "--fail-on-error",
    )
    assert result.exit_code == 3
    assert (tmp_path / "f.csv").is_file()


def test_csv_input_keeps_its_image_values_and_reports_missing_files(tmp_path, coffee):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "coffee.png").write_bytes(encode(coffee))
    listing = tmp_path / "list.csv"
    listing.write_text("image,label\nimgs/coffee.png,good\nimgs/missing.jpg,bad\n")
    out = tmp_path / "f.parquet"
    result = _run("features", str(listing), "--out", str(out), "--segmenter", "none")
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert table["image"].tolist() == ["imgs/coffee.png", "imgs/missing.jpg"]
    assert table["status"].tolist() == ["ok", "error"]
    assert "file not found" in table["error"].iloc[1]
    assert table["segmenter"].iloc[0] == "none"
    assert table["object_found"].iloc[0] == 0.0 and math.isnan(table["object_brightness"].iloc[0])


@pytest.mark.slow
def test_two_workers_give_the_same_rows_as_one(mixed_folder, tmp_path):
    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    assert _run("features", str(mixed_folder), "-o", str(one), "-s", "grabcut").exit_code == 0
    result = _run("features", str(mixed_folder), "-o", str(two), "-s", "grabcut", "--workers", "2")
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_parquet(one), pd.read_parquet(two))


def test_csv_without_image_column_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\na.jpg,good\n")
    result = _run("features", str(bad), "--out", str(tmp_path / "f.csv"))
    assert result.exit_code == 1
    assert "no 'image' column" in result.output and "path, label" in result.output


def test_missing_input_and_bad_output_suffix_are_clear_errors(tmp_path, mixed_folder):
    result = _run("features", str(tmp_path / "nowhere"), "--out", str(tmp_path / "f.csv"))
    assert result.exit_code == 1 and "no such file or folder" in result.output
    result = _run("features", str(mixed_folder), "--out", str(tmp_path / "f.xlsx"))
    assert result.exit_code == 1 and ".parquet or .csv" in result.output


def test_maskrcnn_without_weights_fails_with_the_file_name(tmp_path, mixed_folder, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("PHOTOQC_WEIGHTS_DIR", raising=False)
    result = _run(
        "features", str(mixed_folder), "-o", str(tmp_path / "f.csv"), "-s", "maskrcnn", "--offline"
    )
    assert result.exit_code == 1
    assert "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth" in result.output
    assert "--segmenter fastcut" in result.output


def test_auto_without_weights_warns_once_and_uses_fastcut(tmp_path, mixed_folder, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("PHOTOQC_WEIGHTS_DIR", raising=False)
    out = tmp_path / "f.parquet"
    result = _run("features", str(mixed_folder), "-o", str(out), "--offline")
    assert result.exit_code == 0, result.output
    assert result.output.count("falling back to fastcut") == 1
    table = pd.read_parquet(out)
    assert set(table.loc[table["status"] == "ok", "segmenter"]) == {"fastcut"}


def test_help_explains_commands_and_options():
    top = _run("--help")
    assert top.exit_code == 0 and "features" in top.output and "list-features" in top.output
    sub = _run("features", "--help")
    assert sub.exit_code == 0
    for option in (
        "--out",
        "--segmenter",
        "--workers",
        "--weights-dir",
        "--max-pixels",
        "--offline",
    ):
        assert option in sub.output
    assert "one row per input file" in sub.output


def test_list_features_names_every_feature():
    result = _run("list-features", "--markdown")
    assert result.exit_code == 0
    for name in feature_names():
        assert f"`{name}`" in result.output


@pytest.mark.slow
def test_workers_that_cannot_start_stop_the_run_with_a_clear_error(tmp_path, astronaut):
    import subprocess
    import sys

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        (folder / f"{i}.png").write_bytes(encode(astronaut))
    # A script without a __main__ guard: each spawned worker re-runs it and fails.
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from photoqc.assess.recipe import ExtractConfig\n"
        "from photoqc.engines.local import LocalEngine\n"
        "from photoqc.pipelines.batch.features import extract_rows\n"
        "from photoqc.pipelines.batch.inputs import collect_inputs\n"
        "from photoqc.segmentation import SegmenterConfig\n"
        f"items = collect_inputs({str(folder)!r}).items\n"
        "config = ExtractConfig(segmenter=SegmenterConfig(kind='none'), batch_size=1)\n"
        "rows = extract_rows(items, config, engine=LocalEngine(workers=2))\n"
        "print('rows', len(rows))\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0
    assert "WorkerStartError" in result.stderr and "__main__" in result.stderr


def _commands(command, path=()):
    """Every command of the CLI with its path, groups included."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_every_command_option_and_argument_has_help_text():
    import click
    import typer.main

    for path, command in _commands(typer.main.get_command(app)):
        assert command.help, path
        for param in command.params:
            if param.name == "help":
                continue
            text = getattr(param, "help", None)
            assert text and len(text) > 10, (path, param.name)
            if isinstance(param, click.Option):
                assert param.opts[0].startswith("--"), (path, param.opts)


def test_help_shows_column_and_folder_names_as_written():
    # With markdown help, `nima_*` read as emphasis and `<name>_files/` as an HTML tag:
    # the help showed "nima" and "_files/".
    assert "nima_..." in _run("features", "--help").output
    assert "shap_FEATURE" in _run("score", "--help").output
    assert "REPORT_files/" in _run("report", "--help").output
    assert "nima_NAME_mean" in _run("nima", "import", "--help").output
    for path, command in _commands(__import__("typer").main.get_command(app)):
        words = " ".join(getattr(p, "help", "") or "" for p in command.params)
        assert "*" not in words and "<" not in words, path


def test_an_error_photoqc_names_is_one_line_and_its_exit_code(mixed_folder, tmp_path, monkeypatch):
    """Whatever command raises a PhotoqcError, the CLI says it in one line (plus its hint)
    and exits with the error's code: one place maps them all."""
    import photoqc.pipelines.batch.features as features
    from photoqc.errors import PhotoqcError

    class Odd(PhotoqcError):
        exit_code = 7

    def refuse(*args, **kwargs):
        raise Odd("the disk said no", hint="try another --out")

    monkeypatch.setattr(features, "write_features", refuse)
    result = _run("features", str(mixed_folder), "-o", str(tmp_path / "f.csv"), "-s", "none")
    assert result.exit_code == 7
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-2:] == ["error: the disk said no", "hint: try another --out"]
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_score_fails_on_error_rows_when_asked(mixed_folder, tmp_path):
    out = tmp_path / "s.csv"
    result = _run("score", str(mixed_folder), "--out", str(out), "--fail-on-error")
    assert result.exit_code == 3, result.output
    scores = pd.read_csv(out)
    assert (scores["status"] == "error").sum() == 4 and (scores["status"] == "ok").sum() == 3
    again = _run("score", str(mixed_folder), "--out", str(out))
    assert again.exit_code == 0 and "0 scored now" in again.output


def test_one_photo_is_an_input_of_features_and_score(tmp_path, mixed_folder):
    photo = mixed_folder / "astronaut.jpg"
    out = tmp_path / "f.csv"
    result = _run("features", str(photo), "--out", str(out))
    assert result.exit_code == 0, result.output
    (row,) = pd.read_csv(out).to_dict("records")
    assert row["status"] == "ok" and row["image"] == str(photo.resolve())
    folder_rows = tmp_path / "folder.csv"
    assert _run("features", str(mixed_folder), "--out", str(folder_rows)).exit_code == 0
    same = pd.read_csv(folder_rows).set_index("image").loc[str(photo.resolve())]
    assert row["brightness"] == pytest.approx(same["brightness"])

    scores = tmp_path / "s.csv"
    result = _run("score", str(photo), "--out", str(scores), "--offline")
    assert result.exit_code == 0, result.output
    (scored,) = pd.read_csv(scores).to_dict("records")
    assert scored["status"] == "ok" and scored["verdict"] in {"good", "bad"}
    again = _run("score", str(photo), "--out", str(scores), "--offline")
    assert again.exit_code == 0 and "1 already there" in again.output
    assert len(pd.read_csv(scores)) == 1
    # A single file that is not a photo is one error row, as in a folder.
    notes = mixed_folder / "readme.txt"
    result = _run("features", str(notes), "--out", str(tmp_path / "n.csv"))
    (bad,) = pd.read_csv(tmp_path / "n.csv").to_dict("records")
    assert result.exit_code == 0 and bad["status"] == "error" and bad["error"]


def test_a_manifest_of_file_uris_reads_the_files_they_name(tmp_path, mixed_folder):
    from urllib.parse import quote

    photo = mixed_folder / "astronaut.jpg"
    spaced = tmp_path / "with space.jpg"
    spaced.write_bytes(photo.read_bytes())
    manifest = tmp_path / "elsewhere" / "m.csv"
    manifest.parent.mkdir()
    uris = [f"file://{quote(str(p))}" for p in (photo, spaced, tmp_path / "gone.jpg")]
    pd.DataFrame({"image": uris}).to_csv(manifest, index=False)
    out = tmp_path / "f.csv"
    result = _run("features", str(manifest), "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out).set_index("image")
    assert rows.loc[uris[0], "status"] == "ok" and rows.loc[uris[1], "status"] == "ok"
    assert rows.loc[uris[0], "brightness"] == pytest.approx(rows.loc[uris[1], "brightness"])
    assert rows.loc[uris[2], "status"] == "error" and "file not found" in rows.loc[uris[2], "error"]
