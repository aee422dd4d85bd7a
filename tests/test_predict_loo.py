"""The leave-one-task-out fast path gives the numbers of refitting every fold."""

from __future__ import annotations

import numpy as np
import pytest

from forgetmap.errors import PredictionError
from forgetmap.predict import KNN, LogisticAdditive, evaluate, make_estimator
from forgetmap.predict._loo import LeaveOneOut

METHODS = [
    "mean",
    "additive",
    "multiplicative",
    "lowrank",
    "lowrank_tuned",
    "knn",
    "auto",
    "knn_tuned",
    "additive_tuned",
]


@pytest.fixture
def matrix():
    rng = np.random.default_rng(3)
    return rng.normal(size=(12, 4)) @ rng.normal(size=(4, 240)) + 0.1 * rng.normal(size=(12, 240))


@pytest.mark.parametrize("name", [*METHODS, "knn_similarity_mean"])
def test_fold_state_matches_refit(matrix, name):
    def make_estimator_(name):
        if name == "knn_similarity_mean":
            return KNN(interpolate=False)
        return make_estimator(name)

    shared = LeaveOneOut(matrix)
    rng = np.random.default_rng(0)
    for row in (0, 5, 11):
        train = np.setdiff1d(np.arange(len(matrix)), [row])
        refit = make_estimator_(name).fit(matrix[train])
        fast = shared.fit(make_estimator_(name), row)
        cols = rng.choice(matrix.shape[1], size=10, replace=False)
        expected = refit.predict_interval(cols, matrix[row, cols])
        got = fast.predict_interval(cols, matrix[row, cols])
        for a, b in zip(expected, got, strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-8)


def test_fast_evaluation_equals_refit_per_fold(matrix, monkeypatch):
    fast = evaluate(matrix, methods=METHODS, k=8, seeds=3)
    monkeypatch.setattr(LeaveOneOut, "supports", staticmethod(lambda estimator: False))
    slow = evaluate(matrix, methods=METHODS, k=8, seeds=3)
    for name in METHODS:
        for metric, value in slow["methods"][name].items():
            if metric == "seconds" or value is None:
                continue
            assert fast["methods"][name][metric] == pytest.approx(value, rel=1e-6, abs=1e-9), (
                name,
                metric,
            )


def test_masked_matrix_takes_the_refit_path(matrix, monkeypatch):
    Z = matrix.copy()
    Z[1, :20] = np.nan

    def refuse(self, Z):
        raise AssertionError("the fast path needs a complete matrix")

    monkeypatch.setattr(LeaveOneOut, "__init__", refuse)
    document = evaluate(Z, methods=["lowrank", "knn"], k=8, seeds=2)
    assert 0 < document["methods"]["lowrank"]["rmse"] < document["methods"]["knn"]["rmse"]


def test_each_estimator_says_whether_it_fits_from_statistics(matrix):
    shared = LeaveOneOut(matrix)
    assert all(LeaveOneOut.supports(make_estimator(name)) for name in METHODS)
    binary = LogisticAdditive()
    assert not LeaveOneOut.supports(binary)
    with pytest.raises(PredictionError, match="fits from the training matrix only"):
        shared.fit(binary, 0)


def test_a_fold_reads_its_training_rows_from_the_shared_matrix(matrix):
    fold = LeaveOneOut(matrix).fold(4)
    rows = np.setdiff1d(np.arange(12), [4])
    np.testing.assert_allclose(fold.column_means, matrix[rows].mean(axis=0))
    np.testing.assert_allclose(fold.gram, matrix[rows] @ matrix[rows].T)
    columns = np.array([3, 7, 100])
    np.testing.assert_array_equal(fold.training_block(columns), matrix[np.ix_(rows, columns)])
