"""The numerical core shared by analysis and predict: checks, additive fit, Gram SVD, ALS."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from forgetmap import analysis, predict
from forgetmap._jsonsafe import json_safe
from forgetmap.core import (
    ConvergenceWarning,
    additive_residual_ss,
    alternating_least_squares,
    check_matrix,
    complete_additive_residual_ss,
    fit_additive,
    gram_svd,
    moments,
)
from forgetmap.errors import AnalysisError, PredictionError


@pytest.fixture
def low_rank():
    rng = np.random.default_rng(0)
    return rng.normal(size=(20, 3)) @ rng.normal(size=(3, 90))  # exact rank 3


def _masked(values: np.ndarray, share: float, seed: int = 1) -> np.ndarray:
    masked = values.copy()
    masked[np.random.default_rng(seed).random(values.shape) < share] = np.nan
    return masked


# ---------------------------------------------------------------------- checks
@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.array(["a", "b"], dtype=object).reshape(1, 2), "numbers are needed"),
        (np.zeros(3), "must be 2-D"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), "±inf"),
        (np.full((2, 3), np.nan), "0 task row"),
    ],
)
@pytest.mark.parametrize("error", [AnalysisError, PredictionError])
def test_bad_matrices_raise_the_callers_error(values, message, error):
    with pytest.raises(error, match=message):
        check_matrix(values, error=error)


def test_matrices_keep_their_precision():
    single = np.ones((2, 3), dtype=np.float32)
    assert check_matrix(single) is single
    assert check_matrix(np.ones((2, 3), dtype=np.float16)).dtype == np.float32
    assert check_matrix(np.ones((2, 3), dtype=int)).dtype == np.float64
    with pytest.raises(PredictionError, match="at least 2"):
        check_matrix(np.ones((1, 3)), error=PredictionError, min_rows=2)


# ---------------------------------------------------------------------- additive
@pytest.mark.parametrize("shape", [(12, 30), (30, 12)])
def test_masked_additive_fit_is_the_least_squares_solution(shape):
    m, n = shape
    values = _masked(np.random.default_rng(2).normal(size=shape), 0.3)
    measured = np.argwhere(np.isfinite(values))
    design = np.zeros((len(measured), 1 + m + n))
    design[:, 0] = 1
    design[np.arange(len(measured)), 1 + measured[:, 0]] = 1
    design[np.arange(len(measured)), 1 + m + measured[:, 1]] = 1
    target = values[np.isfinite(values)]
    coef = np.linalg.lstsq(design, target, rcond=None)[0]  # rank-deficient by one constant
    fit = fit_additive(values)
    direct = coef[0] + coef[1 : 1 + m, None] + coef[None, 1 + m :]
    assert_allclose(fit.reconstruct(), direct, atol=1e-9)
    assert_allclose(fit.task_effects.sum(), 0.0, atol=1e-9)
    residual_ss = float(((design @ coef - target) ** 2).sum())
    assert additive_residual_ss(values, fit) == pytest.approx(residual_ss, rel=1e-9)


def test_complete_residual_from_sums_equals_the_streamed_one(low_rank):
    values = low_rank + np.random.default_rng(3).normal(size=(20, 1))
    stats = moments(values)
    fit = fit_additive(None, stats)  # a complete matrix's fit reads only the sums
    squares = (values**2).sum(axis=0)
    assert complete_additive_residual_ss(fit, squares, 20) == pytest.approx(
        additive_residual_ss(values, fit), rel=1e-9
    )


def test_analyze_and_evaluate_fit_the_same_additive_model():
    values = _masked(np.random.default_rng(4).normal(size=(15, 60)) + 1.0, 0.25)
    model = predict.Additive().fit(values)
    fitted = model.column_effect_[None, :] + model.task_effects_[:, None]
    assert_allclose(fitted, analysis.additive_fit(values), atol=1e-10)


def test_an_unmeasured_example_gets_no_effect():
    values = _masked(np.random.default_rng(5).normal(size=(8, 20)), 0.2)
    values[:, 3] = np.nan
    fit = fit_additive(values)
    assert fit.example_effects[3] == 0.0
    assert_allclose(fit.example_effects.sum(), 0.0, atol=1e-12)


# ---------------------------------------------------------------------- Gram SVD
@pytest.mark.parametrize("shape", [(20, 90), (90, 20)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gram_svd_is_the_svd(shape, dtype):
    values = np.random.default_rng(6).normal(size=shape).astype(dtype)
    task, s, example = gram_svd(values, 4)
    u, exact, vt = np.linalg.svd(values.astype(np.float64), full_matrices=False)
    tolerance = 1e-9 if dtype == np.float64 else 1e-4
    assert_allclose(s, exact, rtol=tolerance)
    assert_allclose((task * s[:4]) @ example.T, (u[:, :4] * exact[:4]) @ vt[:4], atol=tolerance)
    assert (task.sum(axis=0) >= 0).all()  # signs fixed


# ---------------------------------------------------------------------- ALS
def test_als_recovers_a_masked_low_rank_matrix(low_rank):
    fit = alternating_least_squares(_masked(low_rank, 0.3), 3)
    assert fit.masked and fit.converged
    assert_allclose(fit.reconstruct(), low_rank, atol=1e-6)
    assert_allclose(fit.task_factors.T @ fit.task_factors, np.eye(3), atol=1e-9)


def test_a_penalised_fit_converges_in_few_iterations(low_rank):
    noisy = _masked(low_rank + 0.1 * np.random.default_rng(7).normal(size=low_rank.shape), 0.2)
    fit = alternating_least_squares(noisy, 2, reg=1e-3, max_iter=200, tol=1e-7)
    assert fit.converged and fit.n_iter < 30


def test_one_convergence_warning(low_rank):
    assert analysis.ConvergenceWarning is ConvergenceWarning
    assert predict.CompletionConvergenceWarning is ConvergenceWarning
    with pytest.warns(ConvergenceWarning, match="stopped after 1 iterations"):
        fit = alternating_least_squares(_masked(low_rank, 0.3), 3, max_iter=1, tol=0.0)
    assert not fit.converged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alternating_least_squares(_masked(low_rank, 0.3), 3)


# ---------------------------------------------------------------------- JSON
def test_json_safe_gives_strict_plain_json():
    document = {
        1: (np.float32(0.5), np.nan, float("-inf")),
        "ints": np.arange(3),
        "flag": np.bool_(True),
        "long": list(range(10)),
    }
    assert json_safe(document) == {
        "1": [0.5, None, None],
        "ints": [0, 1, 2],
        "flag": True,
        "long": list(range(10)),
    }
    assert json_safe(document, max_items=2)["long"] == [0, 1]
