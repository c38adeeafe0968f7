"""The network heads: ridge through the Gram matrix (equal to scikit-learn's), fitted out of
fold for real, kept as arrays that load without unpickling and refuse a tampered file; the
base margin they start the verdict from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge, RidgeCV

from photoqc.features.nima import DEFECT_FEATURES, IMPRESSION_FEATURE, LEARNED_SPECS
from photoqc.models.heads import ALPHAS, GramRidge, HeadsError, NetworkHeads, RidgeMap
from photoqc.models.margin import BaseMargin


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 1500)).astype(np.float32) * rng.uniform(0.5, 3, 1500).astype(
        np.float32
    ) + rng.uniform(-2, 2, 1500).astype(np.float32)
    w = rng.normal(size=1500)
    y = X @ w * 0.02 + rng.normal(size=240)
    return X, y


def test_the_gram_ridge_is_scikit_learns_ridge(data):
    X, y = data
    ridge = GramRidge(X)
    Z = (X - ridge.mean) / ridge.scale
    rows, test = np.arange(200), np.arange(200, 240)
    fit = ridge.fit(rows, y[rows], alpha=np.array([30.0]))
    want = Ridge(alpha=30.0).fit(Z[rows], y[rows]).predict(Z[test])
    np.testing.assert_allclose(ridge.predict(fit, test)[:, 0], want, atol=1e-5)
    # ... as the primal map a model folder keeps, on raw stats
    np.testing.assert_allclose(ridge.primal(fit).predict(X[test])[:, 0], want, atol=1e-4)
    # The penalty chosen by leave-one-out error is RidgeCV's.
    chosen = ridge.fit(rows, y[rows]).alpha[0]
    assert chosen == RidgeCV(alphas=ALPHAS).fit(Z[rows], y[rows]).alpha_


def test_each_output_gets_its_own_penalty(data):
    X, y = data
    ridge = GramRidge(X)
    noise = np.random.default_rng(1).normal(size=len(y))
    fit = ridge.fit(np.arange(len(y)), np.column_stack([y, noise]))
    assert fit.alpha[1] > fit.alpha[0]  # nothing to learn in noise: shrunk harder


def test_out_of_fold_values_are_really_out_of_fold(data):
    X, _ = data
    ridge = GramRidge(X)
    target = np.random.default_rng(2).normal(size=len(X))  # nothing to learn
    rows = np.arange(len(X))
    groups, strata = rows // 2, rows % 2 == 0
    oof = ridge.out_of_fold(rows, target, groups, strata, seed=0)[:, 0]
    in_fold = ridge.predict(ridge.fit(rows, target, alpha=np.array([1.0])), rows)[:, 0]
    # Fitted to the photos themselves, a ridge with 1,500 numbers a photo recalls their
    # noise; out of fold it cannot.
    assert np.corrcoef(in_fold, target)[0, 1] > 0.9
    assert abs(np.corrcoef(oof, target)[0, 1]) < 0.3
    assert not np.allclose(oof, in_fold)


def _heads(width: int = 12) -> NetworkHeads:
    rng = np.random.default_rng(3)

    def head(k: int) -> RidgeMap:
        return RidgeMap(
            rng.normal(size=width).astype(np.float32),
            rng.uniform(0.5, 2, width).astype(np.float32),
            rng.normal(size=(width, k)).astype(np.float32) * 0.01,
            rng.normal(size=k) * 0.1 + 0.1,
            np.full(k, 10.0),
        )

    return NetworkHeads(("technical", "aesthetic"), width, head(1), head(len(DEFECT_FEATURES)))


def test_heads_round_trip_as_arrays_and_say_their_features():
    heads = _heads()
    again = NetworkHeads.from_bytes(heads.to_bytes())
    stats = np.random.default_rng(4).normal(size=(5, 12)).astype(np.float32)
    stats[2] = np.nan
    for name, values in heads.features(stats).items():
        np.testing.assert_allclose(again.features(stats)[name], values, equal_nan=True)
        assert np.isnan(values[2])
    assert again.feature_names == (IMPRESSION_FEATURE, *DEFECT_FEATURES.values())
    losses = np.column_stack([heads.features(stats)[f] for f in DEFECT_FEATURES.values()])
    assert np.nanmin(losses) >= 0 and np.nanmax(losses) <= 1  # clipped to a share lost


@pytest.mark.parametrize(
    "spoil",
    [
        lambda b: b[:-40],  # truncated
        lambda b: b.replace(b"photoqc-network-heads", b"photoqc-network-legs"),
        lambda b: b.replace(b'\\"width\\": 12', b'\\"width\\": 13'),  # in the header's JSON
        lambda b: b"\x80\x04\x95" + b[3:],  # a pickle's opening bytes
    ],
    ids=["truncated", "format", "shape", "pickle"],
)
def test_a_tampered_heads_file_is_refused_without_running_anything(spoil):
    with pytest.raises(HeadsError):
        NetworkHeads.from_bytes(spoil(_heads().to_bytes()))


def test_a_heads_file_with_a_nan_coefficient_is_refused():
    heads = _heads()
    heads.defect.coef[3, 2] = np.nan
    with pytest.raises(HeadsError, match="finite"):
        NetworkHeads.from_bytes(heads.to_bytes())


def test_the_base_margin_starts_from_the_impression_and_hinges_the_defects():
    rng = np.random.default_rng(5)
    n = 400
    impression = rng.uniform(0, 1, n)
    photos = pd.DataFrame(
        {
            IMPRESSION_FEATURE: impression,
            "learned_noise": rng.uniform(0, 0.2, n),  # some loss read into every photo
            "learned_blur": rng.uniform(0, 0.2, n),
        }
    )
    target = 1 / (1 + np.exp(-4 * (impression - 0.5)))
    # Copies of the good photos: noisy ones lose their target; blurred ones, in this
    # data, keep it (the bound keeps blur from ever raising p_good).
    sources = np.flatnonzero(target >= 0.6)
    copies = photos.iloc[sources].reset_index(drop=True).copy()
    noisy = np.arange(len(copies)) % 2 == 0
    copies.loc[noisy, "learned_noise"] += rng.uniform(0.3, 0.6, int(noisy.sum()))
    copies.loc[~noisy, "learned_blur"] += rng.uniform(0.3, 0.6, int((~noisy).sum()))
    copy_target = np.where(noisy, 0.05, target[sources])
    originals = np.zeros(n, bool)
    originals[sources] = True
    signs = {c: LEARNED_SPECS[c].direction.monotone for c in photos.columns}
    assert signs == {IMPRESSION_FEATURE: 1, "learned_noise": -1, "learned_blur": -1}
    margin = BaseMargin.fit(
        photos, target, signs,
        linear=[IMPRESSION_FEATURE], hinged=["learned_noise", "learned_blur"],
        copies=copies, copy_target=copy_target, copy_weight=np.ones(len(copies)),
        originals=originals, good=target >= 0.5,
    )  # fmt: skip
    weights = dict(zip(margin.features, margin.weights, strict=True))
    assert weights[IMPRESSION_FEATURE] > 2 and weights["learned_noise"] < -3
    assert weights["learned_blur"] == pytest.approx(0.0, abs=1e-6)
    # A real photo within the good photos' range of damage is not pushed by it.
    hinge = dict(zip(margin.features, margin.hinges, strict=True))
    assert hinge["learned_noise"] == pytest.approx(photos.loc[target >= 0.5, "learned_noise"].max())
    alone = BaseMargin.fit(photos, target, signs, linear=[IMPRESSION_FEATURE])
    np.testing.assert_allclose(
        margin.raw(photos), alone.raw(photos) + margin.intercept - alone.intercept
    )
    terms = margin.contributions(copies, list(photos.columns))
    np.testing.assert_allclose(terms.sum(axis=1) + margin.expected, margin.raw(copies), atol=1e-9)
    assert margin.raw(copies[noisy]).mean() < margin.raw(copies[~noisy]).mean() - 1
    assert BaseMargin.from_record(margin.record()) == margin


def test_learned_defects_are_said_in_words():
    spec = LEARNED_SPECS["learned_noise"]
    assert [spec.format(v) for v in (0.01, 0.08, 0.2, 0.6)] == [
        "none", "slight", "clear", "strong"
    ]  # fmt: skip
    from photoqc.models.explain import describe

    assert describe(spec, 0.6, 0.01, "high") == "visible noise (learned): strong"


def test_a_photo_s_head_outputs_do_not_depend_on_the_photos_beside_it():
    """A matrix product of 16 rows and one of 1 round differently (BLAS blocking): the
    heads work row by row, so a batch, a single photo and a Ray actor's block agree."""
    from photoqc.models.bundle import default_model_dir, load_bundle

    heads = load_bundle(default_model_dir()).heads
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, heads.width)) * heads.impression.scale + heads.impression.mean
    X = X.astype(np.float32)
    for head in (heads.impression, heads.defect):
        together = head.predict(X)
        alone = np.concatenate([head.predict(X[i : i + 1]) for i in range(16)])
        in_pairs = np.concatenate([head.predict(X[i : i + 2]) for i in range(0, 16, 2)])
        np.testing.assert_array_equal(alone, together)
        np.testing.assert_array_equal(in_pairs, together)
