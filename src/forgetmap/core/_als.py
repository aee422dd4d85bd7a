"""Rank-r least squares over the measured entries only, by alternating least squares.

The one masked fit of the package: ``analysis`` fits rank 1, 2, ..., k with it (no penalty, each
rank started from the one before) and ``predict`` its low-rank completion (a small L2 penalty).
Each half-step solves, for every task (resp. example) at once, the r × r normal equations over
that task's measured entries; the batched systems are built with one matrix product against the
outer products of the other side's factors, in blocks that keep the temporaries small.
"""

from __future__ import annotations

import warnings

import numpy as np

from forgetmap.core._blocks import column_blocks
from forgetmap.core._factors import LowRankFit, orthonormal_fit
from forgetmap.core._gram import gram_svd

__all__ = ["ConvergenceWarning", "alternating_least_squares"]

#: Relative ridge added to every r × r system so that a direction the data do not determine
#: (a task with fewer measured entries than r) gets a finite solution; far below any penalty.
NUMERICAL_RIDGE = 1e-12


class ConvergenceWarning(UserWarning):
    """An iterative fit (alternating least squares, logistic fits) stopped at its iteration
    limit before its objective settled."""


def alternating_least_squares(
    values: np.ndarray,
    rank: int,
    *,
    reg: float = 0.0,
    init: LowRankFit | None = None,
    max_iter: int = 300,
    tol: float = 1e-12,
    seed: int | np.random.Generator = 0,
) -> LowRankFit:
    """The rank-``rank`` factors minimising ``Σ_measured (x − u_i·v_j)² + reg (|U|² + |V|²)``.

    Parameters
    ----------
    values : ndarray of shape (n_tasks, n_examples)
        NaN where unmeasured.
    rank : int
        Number of factors; at most ``min(n_tasks, n_examples)`` are fitted.
    reg : float
        L2 penalty on both factor matrices (0: plain least squares).
    init : LowRankFit, optional
        The start, e.g. the fit of rank r − 1 (missing columns are drawn at random). Without
        it, the leading factors of the matrix with its unmeasured entries as 0.
    max_iter, tol : int, float
        Iterations at most; stop when the objective's relative decrease falls below ``tol``,
        or when it crawls (below 10⁻³ of the objective and 10⁻⁸ of the measured entries' total
        sum of squares, so R² moves by less than 10⁻⁸).
    seed : int or Generator
        Draws the columns a start lacks.

    Returns
    -------
    LowRankFit
        Orthonormalised, ``masked=True``, with the iterations run and whether they converged;
        :class:`ConvergenceWarning` is warned when they did not.
    """
    m, n = values.shape
    rank = min(int(rank), m, n)
    rng = np.random.default_rng(seed)
    data = np.asarray(values, dtype=np.float64)
    mask = np.isfinite(data)
    data = np.where(mask, data, 0.0)
    weights = mask.astype(np.float64)
    data_t, weights_t = np.ascontiguousarray(data.T), np.ascontiguousarray(weights.T)
    right = _start(data, rank, init, rng)
    scale = float((data**2).sum()) + 1e-300
    measured = data[mask]
    total = float(((measured - measured.mean()) ** 2).sum()) if measured.size else 0.0  # SST
    previous = np.inf
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (n_iter is reported)
        left = _solve_side(data, weights, right, reg)  # (M, r)
        right = _solve_side(data_t, weights_t, left, reg)  # (N, r)
        objective = _masked_error(data, weights, left, right)
        if reg:
            objective += reg * float((left**2).sum() + (right**2).sum())
        if objective <= 1e-28 * scale:
            converged = True
            break
        gain = previous - objective  # inf after the first iteration
        # Converged, or a slow crawl (e.g. a component fitting noise) that no longer moves
        # R² visibly; an exact low-rank fit keeps a large relative gain and goes on.
        settled = gain <= tol * previous or (gain <= 1e-3 * previous and gain <= 1e-8 * total)
        if np.isfinite(previous) and settled:
            converged = True
            break
        previous = objective
    if not converged:
        warnings.warn(
            f"masked rank-{rank} alternating least squares stopped after {max_iter} "
            "iterations before converging",
            ConvergenceWarning,
            stacklevel=2,
        )
    return orthonormal_fit(left, right, masked=True, n_iter=n_iter, converged=converged)


def _start(
    data: np.ndarray, rank: int, init: LowRankFit | None, rng: np.random.Generator
) -> np.ndarray:
    """The example-side factors (N, r) the first half-step starts from (``data``: NaN as 0)."""
    if init is None:
        _, s, example = gram_svd(data, rank)
        known = s[:rank] > 0
        example, s = example[:, known], s[:rank][known]
    else:
        example, s = init.example_factors, init.singular_values
    # Each side gets √s: with a penalty the optimum splits the scale evenly between U and V,
    # and a start with all of it on one side spends hundreds of iterations moving it across.
    if len(s) >= rank:
        return example[:, :rank] * np.sqrt(s[:rank])
    right = rng.standard_normal((data.shape[1], rank)) * np.sqrt(np.abs(data).mean() + 1e-12)
    right[:, : len(s)] = example * np.sqrt(s)
    return right


def _solve_side(data: np.ndarray, weights: np.ndarray, other: np.ndarray, reg: float) -> np.ndarray:
    """Penalised least-squares factors of each row of ``data`` given the other side's factors.

    data, weights : (P, Q); other : (Q, r). Returns (P, r) with, for row p,
    ``(Σ_q w_pq o_q o_qᵀ + (reg + ε) I) f_p = Σ_q w_pq x_pq o_q`` (ε: :data:`NUMERICAL_RIDGE`
    of the system's mean diagonal). Blocks over P and Q keep the (Q, r²) outer products and the
    (P, r, r) systems small.
    """
    rank = other.shape[1]
    out = np.empty((data.shape[0], rank))
    for rows in column_blocks(data.shape[0], 1 << 14):
        normal = np.zeros((rows.stop - rows.start, rank * rank))
        rhs = np.zeros((rows.stop - rows.start, rank))
        for part in column_blocks(data.shape[1], 1 << 14):
            factors = other[part]
            outer = (factors[:, :, None] * factors[:, None, :]).reshape(-1, rank * rank)
            normal += weights[rows, part] @ outer
            rhs += data[rows, part] @ factors  # data is zero where unmeasured
        normal = normal.reshape(-1, rank, rank)
        mean_diagonal = np.trace(normal, axis1=1, axis2=2)[:, None, None] / rank + 1e-300
        normal += (reg + NUMERICAL_RIDGE * mean_diagonal) * np.eye(rank)
        out[rows] = np.linalg.solve(normal, rhs[:, :, None])[:, :, 0]
    return out


def _masked_error(
    data: np.ndarray, weights: np.ndarray, left: np.ndarray, right: np.ndarray
) -> float:
    """Σ over measured entries of (x − left·rightᵀ)², streamed over column blocks."""
    total = 0.0
    for cols in column_blocks(data.shape[1]):
        error = data[:, cols] - left @ right[cols].T
        np.multiply(error, error, out=error)
        total += float(np.einsum("ij,ij->", error, weights[:, cols]))
    return total
