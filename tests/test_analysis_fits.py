"""Fits: R² of row, column, additive and rank-k models, exact against direct numpy."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from forgetmap.analysis import _lowrank, additive_fit, fit_report, low_rank_fit
from forgetmap.errors import AnalysisError
from forgetmap.synthetic import planted_matrix


def _r2(values, fitted):
    measured = np.isfinite(values)
    x = values[measured]
    return 1 - ((x - fitted[measured]) ** 2).sum() / ((x - x.mean()) ** 2).sum()


@pytest.fixture
def planted():
    return planted_matrix(30, 200, rank=3, dtype="float64", seed=3).values


def test_exact_rank_one_is_multiplicative_not_additive():
    rng = np.random.default_rng(0)
    values = np.outer(rng.lognormal(size=20), rng.gamma(2.0, size=80))
    report = fit_report(values, 3)
    assert report.r2["multiplicative"] == pytest.approx(1.0, abs=1e-12)
    assert report.r2["additive"] < 0.99


def test_exact_additive_matrix_has_additive_r2_one():
    rng = np.random.default_rng(1)
    values = 0.3 + rng.normal(size=(25, 1)) + rng.normal(size=(1, 90))
    report = fit_report(values, 2)
    assert report.r2["additive"] == pytest.approx(1.0, abs=1e-12)
    assert report.r2["row_only"] < 1 and report.r2["column_only"] < 1
    assert_allclose(additive_fit(values), values, atol=1e-12)


@pytest.mark.parametrize("missing", [0.0, 0.2])
def test_every_r2_matches_a_direct_numpy_computation(planted, missing):
    values = planted.copy()
    if missing:
        values[np.random.default_rng(5).random(values.shape) < missing] = np.nan
    report = fit_report(values, 4)
    row = np.broadcast_to(np.nanmean(values, axis=1, keepdims=True), values.shape)
    col = np.broadcast_to(np.nanmean(values, axis=0, keepdims=True), values.shape)
    assert report.r2["row_only"] == pytest.approx(_r2(values, row), abs=1e-9)
    assert report.r2["column_only"] == pytest.approx(_r2(values, col), abs=1e-9)
    assert report.r2["additive"] == pytest.approx(_r2(values, additive_fit(values)), abs=1e-9)
    if missing:
        for k in range(1, 5):
            fitted = low_rank_fit(values, k).reconstruct()
            assert report.rank_r2[k] == pytest.approx(_r2(values, fitted), abs=1e-6)
        return
    u, s, vt = np.linalg.svd(values, full_matrices=False)
    for k in range(1, 5):
        fitted = (u[:, :k] * s[:k]) @ vt[:k]
        assert report.rank_r2[k] == pytest.approx(_r2(values, fitted), abs=1e-9)
    assert report.r2["multiplicative"] == report.rank_r2[1]
    assert_allclose(report.singular_values, s, rtol=1e-9, atol=1e-9)


def test_masked_fit_recovers_a_low_rank_matrix_with_30_percent_missing():
    rng = np.random.default_rng(4)
    truth = rng.normal(size=(60, 3)) @ rng.normal(size=(3, 120))
    values = truth.copy()
    values[rng.random(values.shape) < 0.3] = np.nan
    fit = low_rank_fit(values, 3, seed=0)
    assert fit.masked
    assert_allclose(fit.reconstruct(), truth, atol=1e-6)
    assert_allclose(fit.task_factors.T @ fit.task_factors, np.eye(3), atol=1e-9)


def test_randomized_spectrum_matches_the_exact_one(monkeypatch, planted):
    exact = fit_report(planted, 5)
    monkeypatch.setattr(_lowrank, "GRAM_LIMIT", 10)
    sketched = fit_report(planted, 5, seed=1)
    assert sketched.method == "randomized" and exact.method == "gram"
    for k in range(1, 6):
        assert sketched.rank_r2[k] == pytest.approx(exact.rank_r2[k], abs=1e-6)


def test_float32_input_is_streamed_in_float64(planted):
    report32 = fit_report(planted.astype(np.float32), 3)
    report64 = fit_report(planted.astype(np.float32).astype(np.float64), 3)
    for key, value in report64.r2.items():
        assert report32.r2[key] == pytest.approx(value, abs=1e-9)


@pytest.mark.parametrize("rank", [0, 30])
def test_rank_out_of_range_is_refused(planted, rank):
    with pytest.raises(AnalysisError, match="below min"):
        low_rank_fit(planted, rank)
