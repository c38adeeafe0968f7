"""The network heads: ridge in a reduced basis, in the primal (equal to kernel ridge and to
scikit-learn's when the basis keeps every direction, close to it when it keeps fewer),
fitted out of fold for real, kept as arrays that load without unpickling and refuse a
tampered file; the base margin they start the verdict from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge, RidgeCV

from photoqc.features.nima import DEFECT_FEATURES, IMPRESSION_FEATURE, LEARNED_SPECS
from photoqc.models.heads import ALPHAS, HeadsError, NetworkHeads, RidgeMap
from photoqc.models.margin import BaseMargin
from photoqc.models.ridge import PrimalRidge, StatsBasis, project


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 1500)).astype(np.float32) * rng.uniform(0.5, 3, 1500).astype(
        np.float32
    ) + rng.uniform(-2, 2, 1500).astype(np.float32)
    w = rng.normal(size=1500)
    y = X @ w * 0.02 + rng.normal(size=240)
    return X, y


def kernel_ridge(Z: np.ndarray, y: np.ndarray, test: np.ndarray, alpha: float) -> np.ndarray:
    """Today's heads before the reduced basis: ridge with an intercept through the n x n
    Gram matrix of centred rows, in float64 (written out here as the reference)."""
    mean = Z.mean(axis=0)
    Zc = Z - mean
    dual = np.linalg.solve(Zc @ Zc.T + alpha * np.eye(len(Z)), y - y.mean())
    return (test - mean) @ (Zc.T @ dual) + y.mean()


def test_the_primal_heads_equal_kernel_ridge_through_the_gram_matrix(data):
    X, y = data
    ridge = PrimalRidge.of(X)  # 240 rows: the basis keeps every direction
    assert ridge.basis.size == 239 and ridge.basis.explained == pytest.approx(1.0)
    Z = ((X - ridge.basis.mean) / ridge.basis.scale).astype(np.float64)
    rows, test = np.arange(200), np.arange(200, 240)
    for alpha in (3.0, 300.0, 30000.0):
        fit = ridge.fit(rows, y[rows], alpha=np.array([alpha]))
        want = kernel_ridge(Z[rows], y[rows], Z[test], alpha)
        assert np.abs(ridge.predict(fit, test)[:, 0] - want).max() < 1e-6
        # ... and as the map on raw stats a model folder keeps (float32 coefficients)
        np.testing.assert_allclose(ridge.primal(fit).predict(X[test])[:, 0], want, atol=1e-4)


def test_a_reduced_basis_stays_close_to_the_full_ridge():
    # Like a network's stats: many numbers driven by fewer causes, plus noise.
    rng = np.random.default_rng(6)
    causes = rng.normal(size=(400, 40))
    X = (causes @ rng.normal(size=(40, 1500)) + rng.normal(size=(400, 1500))).astype(np.float32)
    y = causes @ rng.normal(size=40) * 0.1 + rng.normal(size=400) * 0.5
    full, reduced = PrimalRidge.of(X), PrimalRidge.of(X, size=100, sample=200)
    assert reduced.basis.size == 100 and reduced.basis.sample_rows == 200
    assert 0.5 < reduced.basis.explained < 1.0
    rows, test = np.arange(300), np.arange(300, 400)
    want = full.predict(full.fit(rows, y[rows]), test)[:, 0]
    got = reduced.predict(reduced.fit(rows, y[rows]), test)[:, 0]
    assert np.corrcoef(got, want)[0, 1] > 0.98
    assert np.abs(got - want).mean() < 0.15 * want.std()


def test_the_design_is_projected_a_chunk_at_a_time_as_a_whole(data):
    X, _ = data
    basis = StatsBasis.fit(X[:100], size=50)
    whole = basis.project(X)
    chunked = project((X[i : i + 7] for i in range(0, len(X), 7)), len(X), basis)
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-9)
    components = basis.components
    np.testing.assert_allclose(components.T @ components, np.eye(50), atol=1e-6)
    with pytest.raises(ValueError, match="expected 240 rows"):
        project(iter([X[:10]]), len(X), basis)


def test_the_ridge_is_scikit_learns_ridge(data):
    X, y = data
    ridge = PrimalRidge.of(X)
    Z = (X - ridge.basis.mean) / ridge.basis.scale
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
    ridge = PrimalRidge.of(X)
    noise = np.random.default_rng(1).normal(size=len(y))
    fit = ridge.fit(np.arange(len(y)), np.column_stack([y, noise]))
    assert fit.alpha[1] > fit.alpha[0]  # nothing to learn in noise: shrunk harder


def test_out_of_fold_values_are_really_out_of_fold(data):
    X, _ = data
    ridge = PrimalRidge.of(X)
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


def test_a_fit_from_remembered_sums_equals_one_summed_afresh():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(500, 300)).astype(np.float32)
    Y = rng.normal(size=(500, 2))
    ridge = PrimalRidge.of(X)
    rows = rng.permutation(500)[:400]  # most of the rows, in another order
    afresh = [ridge.fit(rows, Y[rows]), ridge.fit(rows, Y[rows], alpha=np.array([5.0, 50.0]))]
    ridge.remember(np.arange(500), Y)
    summed = [ridge.fit(rows, Y[rows]), ridge.fit(rows, Y[rows], alpha=np.array([5.0, 50.0]))]
    for a, b in zip(afresh, summed, strict=True):
        np.testing.assert_array_equal(a.alpha, b.alpha)
        np.testing.assert_allclose(ridge.predict(b, np.arange(500)),
                                   ridge.predict(a, np.arange(500)), atol=1e-12)  # fmt: skip
    # Other targets for the same rows are not taken from the sums.
    other = ridge.fit(rows, -Y[rows], alpha=np.array([5.0, 50.0]))
    np.testing.assert_allclose(other.coef, -afresh[1].coef, atol=1e-12)
