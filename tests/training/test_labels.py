"""Labels CSV parsing: every kind of label, and every malformed row reported at once."""

from __future__ import annotations

import numpy as np
import pytest

from photoqc.pipelines.training.labels import LabelsError, read_labels, sigmoid_target


@pytest.fixture
def photo_dir(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        (tmp_path / name).write_bytes(b"x")  # existence is all the parser checks
    return tmp_path


def _csv(folder, text):
    path = folder / "labels.csv"
    path.write_text(text)
    return path


def test_label_words_in_any_case(photo_dir):
    labels = read_labels(
        _csv(photo_dir, "image,label\na.jpg,Good\nb.jpg,BAD\nc.jpg,1\nd.jpg,false\n")
    )
    assert labels.kind == "label" and not labels.soft
    np.testing.assert_array_equal(labels.target, [1, 0, 1, 0])
    assert labels.paths[0] == photo_dir / "a.jpg"


def test_votes_become_soft_targets(photo_dir):
    labels = read_labels(
        _csv(photo_dir, "image,votes_good,votes_total\na.jpg,5,5\nb.jpg,2,5\nc.jpg,0,3\n")
    )
    assert labels.kind == "votes" and labels.soft
    np.testing.assert_allclose(labels.target, [1.0, 0.4, 0.0])
    np.testing.assert_array_equal(labels.is_good, [True, False, False])


def test_mos_becomes_a_sigmoid_around_the_threshold(photo_dir):
    labels = read_labels(
        _csv(photo_dir, "image,mos\na.jpg,50\nb.jpg,60\nc.jpg,40\n"), mos_threshold=50, mos_scale=10
    )
    assert labels.kind == "mos" and labels.soft
    np.testing.assert_allclose(labels.target, [0.5, 1 / (1 + np.exp(-1)), 1 / (1 + np.exp(1))])
    np.testing.assert_allclose(labels.mos, [50, 60, 40])
    assert sigmoid_target(np.array([100.0]), 50, 5)[0] > 0.9999


def test_every_malformed_row_is_reported_with_its_line(photo_dir):
    text = (
        "image,label\n"
        "a.jpg,good\n"
        "missing.jpg,good\n"  # line 3
        "b.jpg,maybe\n"  # line 4
        "a.jpg,bad\n"  # line 5: duplicate
        ",good\n"  # line 6
    )
    with pytest.raises(LabelsError) as info:
        read_labels(_csv(photo_dir, text))
    message = str(info.value)
    assert "4 problem(s)" in message
    assert "line 3: file not found" in message
    assert "line 4: unknown label 'maybe'" in message
    assert "line 5: a.jpg already labelled on line 2" in message
    assert "line 6: empty image path" in message


def test_bad_votes_are_reported(photo_dir):
    text = "image,votes_good,votes_total\na.jpg,6,5\nb.jpg,x,5\nc.jpg,1,0\n"
    with pytest.raises(LabelsError) as info:
        read_labels(_csv(photo_dir, text))
    message = str(info.value)
    assert "line 2: votes_good 6 > votes_total 5" in message
    assert "line 3: votes_good and votes_total must be numbers" in message
    assert "line 4: votes must be" in message


def test_mos_needs_a_threshold_and_numbers(photo_dir):
    with pytest.raises(LabelsError, match="--mos-threshold"):
        read_labels(_csv(photo_dir, "image,mos\na.jpg,50\n"))
    with pytest.raises(LabelsError, match="line 2: mos 'high' is not a number"):
        read_labels(_csv(photo_dir, "image,mos\na.jpg,high\n"), mos_threshold=50)


def test_missing_columns_are_clear_errors(photo_dir):
    with pytest.raises(LabelsError, match="no 'image' column"):
        read_labels(_csv(photo_dir, "path,label\na.jpg,good\n"))
    with pytest.raises(LabelsError, match="needs a 'label' column"):
        read_labels(_csv(photo_dir, "image,score\na.jpg,3\n"))
