"""Patterns beyond the multiplicative fit: residuals, leading components and groups.

The residual matrix is ``values − s₁ u₁ v₁ᵀ`` (what the rank-1 fit leaves). Groups of tasks or
examples that share a metadata value are tested two ways — over-representation among the top-q
most forgotten (one-sided two-proportion z-test) and a mean residual different from the rest
(Welch t-test, or a permutation test for small groups) — and all p-values of one analysis are
corrected together with Benjamini–Hochberg. Co-clusters of the residual are found in
:mod:`forgetmap.analysis._coclusters`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forgetmap.analysis._blocks import column_blocks
from forgetmap.analysis._lowrank import LowRankFit

#: Items listed per component.
TOP_ITEMS = 10
#: Below this many items on either side, mean residuals are compared by a permutation test.
WELCH_MIN = 20
PERMUTATIONS = 9_999


@dataclass
class Residuals:
    """Summaries of the residual matrix after the multiplicative (rank-1) fit."""

    task_mean: np.ndarray  # (M,) mean residual of each task over its measured examples
    example_mean: np.ndarray  # (N,) mean residual of each example over its measured tasks
    mean: float
    std: float
    top: list[tuple[float, int, int]]  # largest residuals (value, task index, example index)


def rank1_residual(values: np.ndarray, rank1: LowRankFit, cols: slice) -> np.ndarray:
    """Residual block ``values[:, cols] − s₁ u₁ v₁[cols]ᵀ`` (NaN where unmeasured).

    Computed in the matrix's own float precision: float32 matrices stay float32 here.
    """
    dtype = np.float32 if values.dtype == np.float32 else np.float64
    left = (rank1.task_factors[:, 0] * rank1.singular_values[0]).astype(dtype)
    block = np.asarray(values[:, cols], dtype=dtype)
    return block - np.outer(left, rank1.example_factors[cols, 0].astype(dtype))


def residuals(values: np.ndarray, rank1: LowRankFit, *, n_top: int = TOP_ITEMS) -> Residuals:
    """Stream over the residual matrix once: means per task and example, spread, largest ones."""
    m, n = values.shape
    task_sum, task_n = np.zeros(m), np.zeros(m)
    example_mean = np.full(n, np.nan)
    total = square = count = 0.0
    top: list[tuple[float, int, int]] = []
    for cols in column_blocks(n):
        block = rank1_residual(values, rank1, cols)
        finite = np.isfinite(block)
        zeroed = np.where(finite, block, 0.0)
        counts = finite.sum(axis=0)
        task_sum += zeroed.sum(axis=1, dtype=np.float64)
        task_n += finite.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            example_mean[cols] = np.where(counts > 0, zeroed.sum(axis=0) / counts, np.nan)
        total += float(zeroed.sum(dtype=np.float64))
        square += float(np.square(zeroed, dtype=np.float64).sum())
        count += float(finite.sum())
        # The n_top largest entries lie in the n_top columns with the largest maxima.
        candidates = np.where(finite, block, -np.inf)
        column_max = candidates.max(axis=0)
        k = min(n_top, column_max.size)
        best_columns = np.argpartition(column_max, column_max.size - k)[column_max.size - k :]
        for j in best_columns:
            column = candidates[:, j]
            for i in np.argsort(column)[-n_top:]:
                top.append((float(column[i]), int(i), int(cols.start + j)))
        top = sorted((t for t in top if np.isfinite(t[0])), reverse=True)[:n_top]
    mean = total / count
    with np.errstate(invalid="ignore", divide="ignore"):
        task_mean = np.where(task_n > 0, task_sum / task_n, np.nan)
    std = float(np.sqrt(max(square / count - mean**2, 0.0)))
    return Residuals(task_mean, example_mean, float(mean), std, top)


def components(
    fit: LowRankFit, task_ids: Sequence[str], example_ids: Sequence[str], *, n_top: int = TOP_ITEMS
) -> list[dict[str, Any]]:
    """For each component of ``fit``: its singular value and the largest loadings, by magnitude."""
    result = []
    for index in range(fit.rank):
        result.append(
            {
                "index": index + 1,
                "singular_value": float(fit.singular_values[index]),
                "tasks": _top_loadings(fit.task_factors[:, index], task_ids, n_top),
                "examples": _top_loadings(fit.example_factors[:, index], example_ids, n_top),
            }
        )
    return result


def _top_loadings(loadings: np.ndarray, ids: Sequence[str], n_top: int) -> list[dict[str, Any]]:
    k = min(n_top, loadings.size)
    best = np.argpartition(-np.abs(loadings), k - 1)[:k]
    best = best[np.argsort(-np.abs(loadings[best]))]
    return [{"id": ids[i], "loading": float(loadings[i])} for i in best]


# ---------------------------------------------------------------------- groups
def two_proportion_z(hits_in: int, n_in: int, hits_out: int, n_out: int) -> tuple[float, float]:
    """One-sided two-proportion z-test that the group's share of hits exceeds the rest's.

    Returns ``(z, p)``; p is ``1`` when the pooled share is 0 or 1 (nothing to compare).
    """
    from scipy.stats import norm

    pooled = (hits_in + hits_out) / (n_in + n_out)
    spread = np.sqrt(pooled * (1 - pooled) * (1 / n_in + 1 / n_out))
    if spread == 0:
        return 0.0, 1.0
    z = (hits_in / n_in - hits_out / n_out) / spread
    return float(z), float(norm.sf(z))


def mean_difference_test(
    inside: np.ndarray, outside: np.ndarray, rng: np.random.Generator
) -> tuple[float, float, str]:
    """Two-sided test that two samples' means differ: Welch t, or a permutation test if small.

    Returns ``(statistic, p, name)``: Welch's t when both samples have at least
    :data:`WELCH_MIN` values, else the difference of means with a permutation p-value
    ``(1 + #{|perm| ≥ |obs|}) / (1 + PERMUTATIONS)``.
    """
    from scipy.stats import ttest_ind

    if min(inside.size, outside.size) >= WELCH_MIN:
        result = ttest_ind(inside, outside, equal_var=False)
        return float(result.statistic), float(result.pvalue), "welch_t"
    if inside.size > outside.size:  # permute the smaller side; |difference| is symmetric
        statistic, p, name = mean_difference_test(outside, inside, rng)
        return -statistic, p, name
    pooled = np.concatenate([inside, outside])
    observed = inside.mean() - outside.mean()
    total, size = pooled.sum(), inside.size
    sums = np.empty(PERMUTATIONS)
    if pooled.size <= 2000:
        for start in range(0, PERMUTATIONS, 1000):  # batches keep the key matrix small
            stop = min(start + 1000, PERMUTATIONS)
            chosen = np.argsort(rng.random((stop - start, pooled.size)), axis=1)[:, :size]
            sums[start:stop] = pooled[chosen].sum(axis=1)
    else:  # a small group among many items: draw its random stand-ins directly
        for p in range(PERMUTATIONS):
            sums[p] = pooled[rng.choice(pooled.size, size, replace=False)].sum()
    diffs = sums / size - (total - sums) / outside.size
    extreme = int((np.abs(diffs) >= abs(observed) - 1e-12 * max(abs(observed), 1.0)).sum())
    return float(observed), (1 + extreme) / (1 + PERMUTATIONS), "permutation"


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini–Hochberg q-values (step-up adjusted p-values), same order as given."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * p.size / np.arange(1, p.size + 1)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty_like(p)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def group_tests(
    axis: str,
    labels: Mapping[str, tuple[np.ndarray, Sequence[str]]],
    forgetting: np.ndarray,
    residual: np.ndarray,
    *,
    top_q: float,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """Test every value of every field on one axis (``"tasks"`` or ``"examples"``).

    Parameters
    ----------
    labels : {field: (codes, names)}
        ``codes`` (ndarray of int of shape (n_items,)) indexes ``names``, the field's values.
    forgetting, residual : ndarray of shape (n_items,)
        Mean forgetting and mean residual of each item (NaN where nothing was measured).

    Returns rows without q-values (those are set over the whole analysis, see
    :func:`benjamini_hochberg`).
    """
    measured = np.isfinite(forgetting) & np.isfinite(residual)
    n = int(measured.sum())
    n_top = max(1, int(np.ceil(top_q * n)))
    key = np.where(measured, forgetting, -np.inf)
    top = np.zeros(forgetting.size, dtype=bool)
    top[np.argpartition(-key, n_top - 1)[:n_top]] = True  # ties at the cut: any of them
    top_measured, resid_measured = top[measured], residual[measured]
    forgetting_measured = forgetting[measured]
    rows = []
    for field, (codes, names) in labels.items():
        codes = np.asarray(codes)[measured]
        sizes = np.bincount(codes, minlength=len(names))
        hits = np.bincount(codes, weights=top_measured, minlength=len(names))
        for code in np.argsort(np.asarray(names, dtype=str), kind="stable"):
            n_in = int(sizes[code])
            if n_in == 0 or n_in == n:
                continue
            inside = codes == code
            base = {
                "axis": axis,
                "field": field,
                "value": str(names[code]),
                "size": n_in,
                "mean_forgetting": float(forgetting_measured[inside].mean()),
                "mean_residual": float(resid_measured[inside].mean()),
                "share_in_top": float(hits[code] / n_in),
            }
            z, p = two_proportion_z(int(hits[code]), n_in, int(n_top - hits[code]), n - n_in)
            rows.append({**base, "test": "top_q_z", "statistic": z, "p_value": p})
            stat, p, name = mean_difference_test(
                resid_measured[inside], resid_measured[~inside], rng
            )
            rows.append({**base, "test": f"mean_residual_{name}", "statistic": stat, "p_value": p})
    return rows
