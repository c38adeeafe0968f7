"""Degraded training copies: KADID-10k copies labelled by how much they lost."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from photoqc.distortions import DISTORTIONS, fidelity
from photoqc.pipelines.training.augment import AugmentConfig, Copy, plan, write_copy
from photoqc.pipelines.training.labels import Labels


def test_a_kadid_copys_target_falls_with_what_it_lost(tmp_path, coffee):
    source = tmp_path / "coffee.png"
    Image.fromarray(coffee).save(source)
    targets, similarities = [], []
    for level in (1, 3, 5):
        copy = Copy(0, "gaussian_blur", level / 5, 7, gamma=3.0, kind="kadid")
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
    assert Copy(0, "defocus_blur", 0.5, 0).target(0.8) == pytest.approx(0.4)


def test_kadid_copies_draw_from_all_25_types_and_5_levels():
    labels = Labels(
        [f"{i}.png" for i in range(200)],
        [f"{i}.png" for i in range(200)],
        np.full(200, 0.9),
        "votes",
    )
    copies = plan(labels, AugmentConfig(copies=3, kind="kadid"))
    assert len(copies) == 600 and {c.defect for c in copies} == set(DISTORTIONS)
    assert {c.level for c in copies} == {1, 2, 3, 4, 5}
    with pytest.raises(ValueError, match="kind"):
        AugmentConfig(kind="other")


def test_mixed_copies_take_the_6_defects_and_the_25_types_in_turn():
    from photoqc.degradations import DEFECT_FAMILIES

    labels = Labels(
        [f"{i}.png" for i in range(200)],
        [f"{i}.png" for i in range(200)],
        np.r_[np.full(150, 0.9), np.full(50, 0.2)],
        "votes",
    )
    copies = plan(labels, AugmentConfig(copies=4, kind="mixed"))
    assert len(copies) == 600  # only the 150 good photos lend copies
    kinds = [c.kind for c in copies]
    assert kinds[:4] == ["defects", "kadid", "defects", "kadid"]
    defects = {c.defect for c in copies if c.kind == "defects"}
    kadid = {c.defect for c in copies if c.kind == "kadid"}
    assert defects == set(DEFECT_FAMILIES) and kadid == set(DISTORTIONS)
    # Each kind keeps its own strengths and target rule.
    assert {c.severity for c in copies if c.kind == "defects"} <= {0.4, 0.7, 1.0}
    assert {c.level for c in copies if c.kind == "kadid"} == {1, 2, 3, 4, 5}
    # The defects-only plan is unchanged by the new kind (same draws, same copies).
    alone = plan(labels, AugmentConfig(copies=2))
    assert all(c.kind == "defects" for c in alone) and len(alone) == 300
