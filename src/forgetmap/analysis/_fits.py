"""How much of the forgetting matrix simple models explain: R² of row, column, additive, rank-k.

Every R² is ``1 - SSE / SST`` over the *measured* entries, with SST taken around the grand mean
of those entries. Missing entries (NaN) never count and are never filled with zeros: the additive
fit is solved exactly by least squares over the measured entries
(:func:`forgetmap.core.fit_additive`, the fit ``predict`` uses too), and rank-k fits use masked
alternating least squares (:mod:`forgetmap.analysis._lowrank`), read in column blocks.
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
from forgetmap.core import AdditiveFit, Moments, fit_additive, moments

__all__ = [
    "ConvergenceWarning",
    "FitReport",
    "LowRankFit",
    "additive_fit",
    "fit_report",
    "low_rank_fit",
]


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
    return fit_additive(values).reconstruct()


@dataclass
class FitReport:
    """R² of every fit, the spectrum, and the fitted pieces later stages reuse."""

    sst: float
    r2: dict[str, float]  # row_only, column_only, additive, multiplicative
    rank_r2: dict[int, float]  # k -> R² of the rank-k fit
    singular_values: np.ndarray
    fit: LowRankFit  # rank K
    rank1: LowRankFit
    additive: AdditiveFit
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
    additive = fit_additive(values, stats)
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
