"""How much of the forgetting matrix simple models explain: R² of row, column, additive, rank-k.

Every R² is ``1 - SSE / SST`` over the *measured* entries, with SST taken around the grand mean
of those entries. Missing entries (NaN) never count and are never filled with zeros: the additive
fit is solved exactly by least squares over the measured entries, and rank-k fits use masked
alternating least squares (:mod:`forgetmap.analysis._lowrank`), read in column blocks
(:mod:`forgetmap.analysis._blocks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forgetmap.analysis._blocks import check_rank, checked_matrix, column_blocks, float_block
from forgetmap.analysis._lowrank import (
    ConvergenceWarning,
    LowRankFit,
    complete_spectrum,
    low_rank_fit,
    masked_fits,
    masked_sse,
)

__all__ = [
    "ConvergenceWarning",
    "FitReport",
    "LowRankFit",
    "additive_fit",
    "fit_report",
    "low_rank_fit",
]


@dataclass
class Moments:
    """Sums over the measured entries, per task (rows) and per example (columns)."""

    row_sum: np.ndarray  # (M,)
    row_n: np.ndarray  # (M,)
    col_sum: np.ndarray  # (N,)
    col_n: np.ndarray  # (N,)
    complete: bool

    @property
    def n(self) -> float:
        return float(self.row_n.sum())

    @property
    def mean(self) -> float:
        return float(self.row_sum.sum() / self.n)

    @property
    def row_mean(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.row_sum / self.row_n

    @property
    def col_mean(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.col_sum / self.col_n


def moments(values: np.ndarray) -> Moments:
    """Per-task and per-example sums and counts of the measured entries, in one pass."""
    m, n = values.shape
    row_sum, row_n = np.zeros(m), np.zeros(m)
    col_sum, col_n = np.zeros(n), np.zeros(n)
    complete = True
    for cols in column_blocks(n):
        block, finite = float_block(values, cols)
        row_sum += block.sum(axis=1)
        col_sum[cols] = block.sum(axis=0)
        if finite is None:
            row_n += block.shape[1]
            col_n[cols] = m
        else:
            complete = False
            row_n += finite.sum(axis=1)
            col_n[cols] = finite.sum(axis=0)
    return Moments(row_sum, row_n, col_sum, col_n, complete)


@dataclass(frozen=True)
class AdditiveModel:
    """``values[i, j] ≈ mean + task_effects[i] + example_effects[j]`` (effects sum to zero)."""

    mean: float
    task_effects: np.ndarray  # (M,)
    example_effects: np.ndarray  # (N,)

    def reconstruct(self) -> np.ndarray:
        """The fitted matrix, ndarray of shape (n_tasks, n_examples)."""
        return self.mean + self.task_effects[:, None] + self.example_effects[None, :]


def additive_model(values: np.ndarray, stats: Moments | None = None) -> AdditiveModel:
    """Least-squares fit of ``μ + a_i + b_j`` over the measured entries of ``values``.

    With every entry measured the solution is the two-way ANOVA one (row mean + column mean −
    grand mean). With NaN present, the example effects are eliminated and the remaining
    (n_tasks × n_tasks) normal equations are solved exactly, so no iteration and no filling.
    """
    stats = stats or moments(values)
    mu = stats.mean
    if stats.complete:
        return AdditiveModel(mu, stats.row_mean - mu, stats.col_mean - mu)
    m, n = values.shape
    if m > n:  # eliminate the longer side: the system is min(M, N) square
        swapped = additive_model(values.T)
        return AdditiveModel(swapped.mean, swapped.example_effects, swapped.task_effects)
    # Normal equations in the task effects a after substituting b_j = mean_i∈obs(x_ij − a_i):
    # (diag(n_i) − C) a = rowsum − W c,  C = W diag(1/n_j) Wᵀ,  W = mask, c = column means.
    coupling = np.zeros((m, m))
    rhs = stats.row_sum.copy()
    col_mean = stats.col_mean
    for cols in column_blocks(n):
        _, finite = float_block(values, cols)
        weights = np.ones((m, cols.stop - cols.start)) if finite is None else finite.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled = np.where(stats.col_n[cols] > 0, weights / stats.col_n[cols], 0.0)
        coupling += scaled @ weights.T
        rhs -= weights @ np.nan_to_num(col_mean[cols])
    system = np.diag(stats.row_n) - coupling
    task = np.linalg.lstsq(system, rhs, rcond=None)[0]  # singular by one constant; lstsq picks one
    example = np.zeros(n)
    for cols in column_blocks(n):
        block, finite = float_block(values, cols)
        weights = np.ones_like(block) if finite is None else finite.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            example[cols] = (block.sum(axis=0) - task @ weights) / stats.col_n[cols]
    example = np.nan_to_num(example)
    shift_a, shift_b = task.mean(), example.mean()
    return AdditiveModel(shift_a + shift_b, task - shift_a, example - shift_b)


def additive_fit(values: np.ndarray) -> np.ndarray:
    """The least-squares additive fit ``μ + a_i + b_j`` of ``values``, measured entries only.

    Parameters
    ----------
    values : ndarray of shape (n_tasks, n_examples)
        Forgetting values; NaN means not measured.

    Returns
    -------
    ndarray of shape (n_tasks, n_examples)
        The fitted values, defined everywhere (also where ``values`` is NaN).
    """
    values = checked_matrix(values)
    return additive_model(values).reconstruct()


@dataclass
class FitReport:
    """R² of every fit, the spectrum, and the fitted pieces later stages reuse."""

    sst: float
    r2: dict[str, float]  # row_only, column_only, additive, multiplicative
    rank_r2: dict[int, float]  # k -> R² of the rank-k fit
    singular_values: np.ndarray
    fit: LowRankFit  # rank K
    rank1: LowRankFit
    additive: AdditiveModel
    stats: Moments
    method: str
    task_ss: np.ndarray  # (M,) Σ_j (x_ij − mean_i)² over measured entries
    example_ss: np.ndarray  # (N,) Σ_i (x_ij − mean_j)² over measured entries
    n_forgotten: int  # measured entries > 0


def fit_report(values: np.ndarray, rank: int, *, seed: int = 0) -> FitReport:
    """R² over the measured entries of the row, column, additive and rank-1..``rank`` fits.

    Parameters
    ----------
    values : ndarray of shape (n_tasks, n_examples)
        Float32 or float64; NaN means not measured. Never copied whole into float64.
    rank : int
        Largest rank K of the truncated fits.
    """
    values = checked_matrix(values)
    check_rank(rank, values.shape)
    stats = moments(values)
    additive = additive_model(values, stats)
    row_mean, col_mean = np.nan_to_num(stats.row_mean), np.nan_to_num(stats.col_mean)
    mu = stats.mean
    sst = sse_add = 0.0
    task_ss, example_ss = np.zeros(values.shape[0]), np.zeros(values.shape[1])
    forgotten = 0
    for cols in column_blocks(values.shape[1]):
        block, finite = float_block(values, cols)
        w = 1.0 if finite is None else finite
        sst += float((((block - mu) ** 2) * w).sum())
        task_ss += (((block - row_mean[:, None]) ** 2) * w).sum(axis=1)
        example_ss[cols] = (((block - col_mean[cols]) ** 2) * w).sum(axis=0)
        fitted = additive.mean + additive.task_effects[:, None] + additive.example_effects[cols]
        sse_add += float((((block - fitted) ** 2) * w).sum())
        forgotten += int((block > 0).sum())  # unmeasured entries are 0 in the block
    sse_row, sse_col = float(task_ss.sum()), float(example_ss.sum())
    if stats.complete:
        spectrum = complete_spectrum(values, rank, seed=seed)
        sse_k = spectrum.sse
        fit, singular, method = spectrum.fit, spectrum.singular_values, spectrum.method
        rank1 = LowRankFit(
            fit.task_factors[:, :1], fit.singular_values[:1], fit.example_factors[:, :1]
        )
    else:
        fits = masked_fits(values, rank, seed=seed)
        sse_k = np.array([np.nan] + [masked_sse(values, f) for f in fits])
        fit, singular, method, rank1 = fits[-1], fits[-1].singular_values, "masked_als", fits[0]
    r2 = {
        "row_only": _r2(sse_row, sst),
        "column_only": _r2(sse_col, sst),
        "additive": _r2(sse_add, sst),
        "multiplicative": _r2(float(sse_k[1]), sst),
    }
    rank_r2 = {k: _r2(float(sse_k[k]), sst) for k in range(1, rank + 1)}
    return FitReport(
        sst,
        r2,
        rank_r2,
        np.asarray(singular),
        fit,
        rank1,
        additive,
        stats,
        method,
        task_ss,
        example_ss,
        forgotten,
    )


def _r2(sse: float, sst: float) -> float:
    return float(1.0 - sse / sst) if sst > 0 else float("nan")
