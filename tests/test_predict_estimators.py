"""Completion estimators: exact recovery of planted structure, fold-in consistency, intervals."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from forgetmap.errors import PredictionError
from forgetmap.predict import (
    KNN,
    Additive,
    ColumnMean,
    CompletionConvergenceWarning,
    LogisticAdditive,
    LogisticLowRank,
    LowRank,
    Multiplicative,
    make_estimator,
)


@pytest.fixture
def low_rank():
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 3)) @ rng.normal(size=(3, 300))  # exact rank 3


@pytest.mark.parametrize("k", [3, 5, 30])
def test_lowrank_fold_in_recovers_exact_low_rank(low_rank, k):
    model = LowRank(rank=3, center=False).fit(low_rank[1:])
    rng = np.random.default_rng(k)
    cols = rng.choice(300, size=k, replace=False)
    assert_allclose(model.predict_row(cols, low_rank[0, cols]), low_rank[0], atol=1e-6)


def test_centred_lowrank_recovers_with_rank_plus_mean(low_rank):
    model = LowRank(rank=3).fit(low_rank[1:])
    cols = np.random.default_rng(1).choice(300, size=10, replace=False)
    assert_allclose(model.predict_row(cols, low_rank[0, cols]), low_rank[0], atol=1e-6)


def test_multiplicative_recovers_rank_one():
    rng = np.random.default_rng(2)
    Z = np.outer(rng.gamma(2, 1, 20), rng.gamma(2, 1, 100))
    model = Multiplicative().fit(Z[1:])
    assert_allclose(model.predict_row([3, 50], Z[0, [3, 50]]), Z[0], rtol=1e-6)


def test_additive_recovers_additive_matrix():
    rng = np.random.default_rng(3)
    Z = 0.3 + rng.normal(size=(25, 1)) + rng.normal(size=(1, 200))
    model = Additive().fit(Z[1:])
    assert_allclose(model.predict_row([0, 7, 9], Z[0, [0, 7, 9]]), Z[0], atol=1e-9)
    assert model.noise_var_ < 1e-20


def test_masked_als_fits_missing_entries(low_rank):
    Z = low_rank.copy()
    Z[np.random.default_rng(4).random(Z.shape) < 0.2] = np.nan
    model = LowRank(rank=3, center=False, reg=1e-8, max_iter=500, tol=1e-12, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompletionConvergenceWarning)
        model.fit(Z[1:])
    cols = np.arange(0, 300, 10)
    assert_allclose(model.predict_row(cols, low_rank[0, cols]), low_rank[0], atol=1e-3)


def test_als_warns_when_not_converged(low_rank):
    Z = low_rank.copy()
    Z[0, 0] = np.nan
    with pytest.warns(CompletionConvergenceWarning):
        LowRank(rank=3, max_iter=1, tol=0.0).fit(Z)


@pytest.mark.parametrize("name", ["mean", "additive", "multiplicative", "lowrank", "knn"])
def test_batched_prediction_matches_rows(name, low_rank):
    model = make_estimator(name).fit(low_rank[5:])
    rng = np.random.default_rng(5)
    cols = np.stack([rng.choice(300, 8, replace=False) for _ in range(3)])
    values = low_rank[np.arange(3)[:, None], cols]
    batched = model.predict_rows(cols, values)
    for i in range(3):
        assert_allclose(batched[i], model.predict_row(cols[i], values[i]), atol=1e-10)


def test_knn_prefers_the_planted_twin():
    rng = np.random.default_rng(6)
    Z = rng.normal(size=(30, 200))
    Z[0] = Z[1] * 1.0  # a test task identical to training task 1
    model = KNN(n_neighbors=1, shrinkage=0.0).fit(Z[1:])
    index, _, _ = model.neighbours(np.arange(40), Z[0, :40])
    assert index.tolist() == [0]


def test_knn_interpolation_beats_the_similarity_weighted_mean():
    # Planted rank-4 tasks: a new task is a mix of several training tasks, which jointly derived
    # weights recover and a similarity-weighted mean (KNNBaseline) cannot.
    rng = np.random.default_rng(11)
    Z = rng.normal(size=(40, 4)) @ rng.normal(size=(4, 500)) + 0.1 * rng.normal(size=(40, 500))
    errors = {}
    for interpolate in (True, False):
        model = KNN(interpolate=interpolate).fit(Z[5:])
        se = 0.0
        for row in range(5):
            cols = rng.choice(500, 30, replace=False)
            hidden = np.setdiff1d(np.arange(500), cols)
            se += float(((model.predict_row(cols, Z[row, cols]) - Z[row])[hidden] ** 2).mean())
        errors[interpolate] = se
    assert errors[True] < 0.3 * errors[False]


def test_interval_coverage_near_nominal():
    rng = np.random.default_rng(7)
    M, N = 60, 400
    Z = rng.normal(size=(M, 2)) @ rng.normal(size=(2, N)) + 0.3 * rng.normal(size=(M, N))
    model = LowRank(rank=2).fit(Z[:40])
    covered = []
    for row in range(40, M):
        cols = rng.choice(N, 30, replace=False)
        _, lower, upper = model.predict_interval(cols, Z[row, cols], level=0.9)
        hidden = np.setdiff1d(np.arange(N), cols)
        covered.append((Z[row, hidden] >= lower[hidden]) & (Z[row, hidden] <= upper[hidden]))
    assert abs(np.concatenate(covered).mean() - 0.9) < 0.05


@pytest.mark.parametrize("name", ["mean", "additive", "multiplicative", "lowrank", "knn"])
def test_intervals_stay_sane_on_a_tiny_store(name):
    # 8 × 32 with a spread of 0.001: a rank-5 model on the 5-6 rows of a calibration fold fits
    # them exactly, which once made the lowrank factor ~1e7 and the intervals ±5000.
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(8, 3)) @ rng.normal(size=(3, 32)) + 0.05 * rng.normal(size=(8, 32))
    Z *= 1e-3
    model = make_estimator(name).fit(Z[1:])
    cols = rng.choice(32, 10, replace=False)
    _, lower, upper = model.predict_interval(cols, Z[0, cols])
    half = (upper - lower) / 2
    assert (half > 0).all() and np.median(half) < 10 * Z.std()
    hidden = np.setdiff1d(np.arange(32), cols)
    assert ((Z[0, hidden] >= lower[hidden]) & (Z[0, hidden] <= upper[hidden])).mean() >= 0.6


def test_logistic_models_give_probabilities_that_separate():
    rng = np.random.default_rng(8)
    logits = rng.normal(size=(40, 1)) + 2 * rng.normal(size=(1, 300))
    B = (rng.random((40, 300)) < 1 / (1 + np.exp(-logits))).astype(float)
    for model in (LogisticAdditive(), LogisticLowRank(rank=2, random_state=0)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CompletionConvergenceWarning)
            model.fit(B[1:])
        cols = rng.choice(300, 30, replace=False)
        p = model.predict_row(cols, B[0, cols])
        assert ((p > 0) & (p < 1)).all()
        assert ((p > 0.5) == B[0]).mean() > 0.75


def test_logistic_refuses_continuous(low_rank):
    with pytest.raises(PredictionError, match="binary"):
        LogisticAdditive().fit(low_rank)


@pytest.mark.parametrize(
    ("cols", "values", "message"),
    [
        ([], [], "at least one probe"),
        ([1, 1], [0.0, 0.0], "repeat"),
        ([999], [0.0], "integers"),
        ([1], [np.nan], "finite"),
    ],
)
def test_bad_probes(low_rank, cols, values, message):
    model = ColumnMean().fit(low_rank)
    with pytest.raises(PredictionError, match=message):
        model.predict_row(np.asarray(cols, dtype=int), values)


def test_fewer_than_two_training_rows():
    with pytest.raises(PredictionError, match="at least 2"):
        Additive().fit(np.ones((1, 5)))


def test_unfitted_and_unknown():
    with pytest.raises(PredictionError, match="not fitted"):
        LowRank().predict_row([0], [1.0])
    with pytest.raises(PredictionError, match="unknown method"):
        make_estimator("nope")
