"""The defect penalty: hinges past good photos' worst values, one- and two-sided."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from photoqc.features import spec_index
from photoqc.models.penalty import DefectPenalty


def _good_and_copies(seed: int = 0):
    rng = np.random.default_rng(seed)
    good = pd.DataFrame(
        {"colourfulness": rng.uniform(10, 60, 200), "noise_sigma": rng.uniform(1, 5, 200)}
    )
    # Copies: desaturated (colourfulness near 0), oversaturated (120+), noisy (20+): bad.
    dull = good.assign(colourfulness=rng.uniform(0, 4, 200))
    vivid = good.assign(colourfulness=rng.uniform(120, 160, 200))
    noisy = good.assign(noise_sigma=rng.uniform(20, 40, 200))
    rows = pd.concat([good, dull, vivid, noisy], ignore_index=True)
    target = np.r_[np.full(200, 0.9), np.full(600, 0.1)]
    return good, rows, target


def test_a_bounded_feature_is_penalised_past_either_end_of_the_good_range():
    good, rows, target = _good_and_copies()
    design = DefectPenalty.design(good, {"colourfulness": 0, "noise_sigma": -1})
    assert design.features == ("colourfulness", "colourfulness", "noise_sigma")
    assert design.signs == (1, -1, 1)
    assert design.thresholds[0] == pytest.approx(good["colourfulness"].max())
    assert design.thresholds[1] == pytest.approx(good["colourfulness"].min())
    fitted = design.fit(rows, np.zeros(len(rows)), target, np.ones(len(rows)))
    assert all(w > 0.1 for w in fitted.weights)
    raw = fitted.raw(rows)
    assert np.all(raw[:200] == 0)  # a photo within the good range costs nothing
    assert np.all(raw[200:] < -0.5)  # past either end, or noisier, costs
    # Both of a bounded feature's terms land on its one column of contributions.
    parts = fitted.contributions(rows, ["noise_sigma", "colourfulness"])
    assert np.allclose(parts.sum(axis=1), raw)
    assert np.all(parts[200:600, 1] < 0) and np.all(parts[200:600, 0] == 0)
    # The record round-trips with the feature named twice.
    again = DefectPenalty.from_record(fitted.record())
    assert np.allclose(again.raw(rows), raw)


def test_only_range_features_with_two_defect_phrases_are_bounded():
    specs = spec_index()
    bounded = {name for name, spec in specs.items() if spec.bounded}
    assert bounded == {"brightness", "contrast", "colourfulness"}
    from photoqc.features.spec import Direction, FeatureSpec

    with pytest.raises(ValueError, match="bounded"):
        FeatureSpec("x", "x, 0-1", direction=Direction.HIGHER_WORSE, high="h", bounded=True)
    with pytest.raises(ValueError, match="bounded"):
        FeatureSpec("x", "x, 0-1", low="too low", bounded=True)
