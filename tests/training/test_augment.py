"""Degraded training copies: KADID-10k copies labelled by how much they lost."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from photoqc.metrics import fidelity
from photoqc.pipelines.training.augment import AugmentConfig, Copy, plan, write_copy
from photoqc.pipelines.training.labels import Labels
from photoqc.synthetic import COPY_KINDS, DEFECT_FAMILIES
from photoqc.synthetic.kadid import DISTORTIONS, LEVELS
from photoqc.synthetic.kadid import VERSION as KADID_VERSION


def test_a_kadid_copys_target_falls_with_what_it_lost(tmp_path, coffee):
    source = tmp_path / "coffee.png"
    Image.fromarray(coffee).save(source)
    targets, similarities = [], []
    for level in (1, 3, 5):
        copy = Copy(0, "kadid", "gaussian_blur", level, 7, gamma=3.0)
        path, similarity = write_copy(copy, source, tmp_path / "copies")
        assert path.is_file() and 0 < similarity < 1
        # The fidelity kept is the copy's as saved, against its own original.
        assert similarity == pytest.approx(fidelity(coffee, np.asarray(Image.open(path))))
        targets.append(copy.target(0.8, similarity))
        similarities.append(similarity)
        # Made once: asked again, the same file and the same fidelity.
        assert write_copy(copy, source, tmp_path / "copies") == (path, similarity)
    assert similarities[0] > similarities[1] > similarities[2]
    assert targets == pytest.approx([0.8 * s**3 for s in similarities])
    assert 0.8 > targets[0] > targets[1] > targets[2] > 0
    # A 6-defect copy keeps the severity rule.
    assert Copy(0, "defects", "defocus_blur", 0.5, 0).target(0.8) == pytest.approx(0.4)


def test_kadid_copies_draw_from_all_25_types_and_5_levels():
    labels = Labels(
        [f"{i}.png" for i in range(200)],
        [f"{i}.png" for i in range(200)],
        np.full(200, 0.9),
        "votes",
    )
    copies = plan(labels, AugmentConfig(copies=3, kind="kadid"))
    assert len(copies) == 600 and {c.type for c in copies} == set(DISTORTIONS)
    assert {c.strength for c in copies} == {1, 2, 3, 4, 5}
    with pytest.raises(ValueError, match="copy kind 'other'; choose from defects, kadid, mixed"):
        AugmentConfig(kind="other")


def test_mixed_copies_take_the_6_defects_and_the_25_types_in_turn():
    labels = Labels(
        [f"{i}.png" for i in range(200)],
        [f"{i}.png" for i in range(200)],
        np.r_[np.full(150, 0.9), np.full(50, 0.2)],
        "votes",
    )
    copies = plan(labels, AugmentConfig(copies=4, kind="mixed"))
    assert len(copies) == 600  # only the 150 good photos lend copies
    kinds = [c.vocabulary for c in copies]
    assert kinds[:4] == ["defects", "kadid", "defects", "kadid"]
    defects = {c.type for c in copies if c.vocabulary == "defects"}
    kadid = {c.type for c in copies if c.vocabulary == "kadid"}
    assert defects == set(DEFECT_FAMILIES) and kadid == set(DISTORTIONS)
    # Each vocabulary keeps its own strengths and target rule.
    assert {c.strength for c in copies if c.vocabulary == "defects"} <= {0.4, 0.7, 1.0}
    assert {c.strength for c in copies if c.vocabulary == "kadid"} == {1, 2, 3, 4, 5}
    # Both plans are the draws of one seeded generator, in order: photo by photo, copy by
    # copy, the type, then the strength, then the variant (the same draws, the same
    # copies, whatever else changes in the code that makes them).
    for kind, count in (("defects", 2), ("mixed", 4)):
        rng = np.random.default_rng(0)
        expected = []
        for source in range(150):
            for k in range(count):
                if kind == "mixed" and k % 2 == 1:
                    name, strength = rng.choice(tuple(DISTORTIONS)), rng.choice(LEVELS)
                else:
                    name, strength = rng.choice(tuple(DEFECT_FAMILIES)), rng.choice((0.4, 0.7, 1.0))
                expected.append((source, str(name), strength.item(), int(rng.integers(0, 2**31))))
        drawn = plan(labels, AugmentConfig(copies=count, kind=kind))
        assert [(c.source, c.type, c.strength, c.variant) for c in drawn] == expected


def test_copies_keep_the_file_names_they_had_before_the_copy_kinds_registry(tmp_path):
    import hashlib

    source = tmp_path / "a.png"
    # The key copies had when a copy was (defect, severity) and a KADID level was stored
    # as level / 5: copies made then are found again, not remade.
    old = "{}|{}|{}|{}{}".format(source.resolve(), "jpeg", 0.7, 12345, "")
    assert (
        Copy(0, "defects", "jpeg", 0.7, 12345).cache_key(source)
        == (hashlib.sha256(old.encode()).hexdigest()[:20])
    )
    for level in LEVELS:
        old = f"{source.resolve()}|white_noise|{level / 5}|99|kadid|v{KADID_VERSION}"
        assert (
            Copy(0, "kadid", "white_noise", level, 99).cache_key(source)
            == (hashlib.sha256(old.encode()).hexdigest()[:20])
        )


def test_every_copy_kind_is_listed_once_in_train_help():
    from typer.testing import CliRunner

    from photoqc.cli import app

    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for kind in COPY_KINDS:  # "defects: 6 realistic defects ...", once each, from the registry
        assert text.count(f"{kind}: {COPY_KINDS[kind].help.split()[0]}") == 1, kind
