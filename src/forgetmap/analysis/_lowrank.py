"""Rank-k fits of the forgetting matrix, over its measured entries only.

A complete matrix gets its singular values from the Gram matrix of its short side when that
side is small (exact, one pass), else from a randomized SVD. A matrix with missing entries (NaN)
is never filled with zeros: rank 1, 2, ..., k are fitted by masked alternating least squares
(:func:`masked_als`), each started from the one before.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from forgetmap.analysis._blocks import check_rank, checked_matrix, column_blocks, float_block

__all__ = [
    "ConvergenceWarning",
    "LowRankFit",
    "Spectrum",
    "complete_spectrum",
    "low_rank_fit",
    "masked_als",
    "masked_fits",
    "masked_sse",
]

#: Largest short side for which the exact Gram-matrix spectrum is used.
GRAM_LIMIT = 2048


class ConvergenceWarning(UserWarning):
    """A masked fit stopped at its iteration limit before its error settled."""


@dataclass(frozen=True)
class LowRankFit:
    """A rank-r approximation ``task_factors @ diag(singular_values) @ example_factorsᵀ``.

    Attributes
    ----------
    task_factors : ndarray of shape (n_tasks, r)
        Orthonormal columns (task loadings).
    singular_values : ndarray of shape (r,)
        Non-increasing.
    example_factors : ndarray of shape (n_examples, r)
        Orthonormal columns (example loadings).
    masked : bool
        Whether the fit used masked alternating least squares (the matrix had NaN).
    n_iter : int
        ALS iterations (0 for an exact SVD).
    """

    task_factors: np.ndarray
    singular_values: np.ndarray
    example_factors: np.ndarray
    masked: bool = False
    n_iter: int = 0

    @property
    def rank(self) -> int:
        return int(self.singular_values.shape[0])

    def reconstruct(self) -> np.ndarray:
        """The approximation, ndarray of shape (n_tasks, n_examples)."""
        return (self.task_factors * self.singular_values) @ self.example_factors.T


def _orient(task: np.ndarray, example: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fix the sign ambiguity of each component: task loadings sum to a non-negative number."""
    signs = np.where(task.sum(axis=0) < 0, -1.0, 1.0)
    return task * signs, example * signs


def _from_factors(left: np.ndarray, right: np.ndarray, masked: bool, n_iter: int) -> LowRankFit:
    """Orthonormalise ``left @ right.T`` into a :class:`LowRankFit` (QR of each side, small SVD)."""
    q_left, r_left = np.linalg.qr(left)
    q_right, r_right = np.linalg.qr(right)
    core_u, s, core_vt = np.linalg.svd(r_left @ r_right.T)
    task, example = _orient(q_left @ core_u, q_right @ core_vt.T)
    return LowRankFit(task, s, example, masked, n_iter)


@dataclass
class Spectrum:
    """Singular values of a complete matrix and the residual sums of squares of rank-k fits."""

    singular_values: np.ndarray  # all of them (Gram) or the leading ones (randomized)
    sse: np.ndarray  # (K + 1,): SSE of the rank-k fit for k = 0..K
    fit: LowRankFit  # rank K
    method: str


def _gram(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Gram matrix of the short side in float64, and whether it is the task side (X Xᵀ).

    Accumulated block by block with BLAS ``dsyrk`` (symmetric rank-k update: half the flops of
    a general product, and much faster than ``block @ block.T`` in practice).
    """
    from scipy.linalg.blas import dsyrk

    m, n = values.shape
    task_side = m <= n
    size = m if task_side else n
    upper = np.zeros((size, size), order="F")
    for part in column_blocks(n if task_side else m):
        if task_side:
            block = np.asarray(values[:, part], dtype=np.float64)  # (M, b)
            upper = dsyrk(1.0, block.T, beta=1.0, c=upper, trans=1, overwrite_c=1)
        else:
            block = np.asarray(values[part], dtype=np.float64)  # (b, N)
            upper = dsyrk(1.0, block, beta=1.0, c=upper, trans=1, overwrite_c=1)
    gram = np.triu(upper)
    return gram + np.triu(gram, 1).T, task_side


def _project(values: np.ndarray, basis: np.ndarray, task_side: bool) -> np.ndarray:
    """``valuesᵀ @ basis`` (task_side) or ``values @ basis``, streamed; float64 result.

    A float32 matrix is multiplied in float32 (its own precision) rather than converted.
    """
    m, n = values.shape
    work = basis.astype(values.dtype) if values.dtype == np.float32 else basis
    if task_side:
        out = np.empty((n, basis.shape[1]))
        for cols in column_blocks(n):
            out[cols] = np.asarray(values[:, cols]).T @ work
        return out
    out = np.empty((m, basis.shape[1]))
    for rows in column_blocks(m):
        out[rows] = np.asarray(values[rows]) @ work
    return out


def gram_spectrum(values: np.ndarray, rank: int) -> Spectrum:
    """Exact spectrum of a complete matrix through the Gram matrix of its short side.

    SSE of the rank-k fit is the sum of the eigenvalues beyond k (no cancellation against the
    total). Costs one pass of ``min(M,N)² · max(M,N)`` flops and a small eigendecomposition.
    """
    gram, task_side = _gram(values)
    eigenvalues, vectors = np.linalg.eigh(gram)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    vectors = vectors[:, order[:rank]]
    s = np.sqrt(eigenvalues)
    tail = np.concatenate([np.cumsum(eigenvalues[::-1])[::-1], [0.0]])
    other = _project(values, vectors, task_side)  # (other side, rank) = side @ U · s
    with np.errstate(invalid="ignore", divide="ignore"):
        other = np.where(s[:rank] > 0, other / s[:rank], 0.0)
    left, right = (vectors, other) if task_side else (other, vectors)
    left, right = _orient(left, right)
    fit = LowRankFit(left, s[:rank].copy(), right)
    return Spectrum(s, tail[: rank + 1], fit, "gram")


def randomized_spectrum(
    values: np.ndarray, rank: int, total: float, *, n_values: int, seed: int
) -> Spectrum:
    """Leading singular values of a complete matrix by a randomized range finder.

    Halko, Martinsson & Tropp (2011): a Gaussian sketch with 10 extra columns and 4 power
    iterations, re-orthonormalised each time. ``total`` is ``‖values‖²`` so that the rank-k SSE
    is ``total − Σ_{i≤k} s_i²``.
    """
    rng = np.random.default_rng(seed)
    m, n = values.shape
    width = min(n_values + 10, m, n)
    sketch = values @ rng.standard_normal((n, width)).astype(values.dtype)
    basis = np.linalg.qr(sketch.astype(np.float64))[0]
    for _ in range(4):
        back = np.linalg.qr((values.T @ basis.astype(values.dtype)).astype(np.float64))[0]
        basis = np.linalg.qr((values @ back.astype(values.dtype)).astype(np.float64))[0]
    small = _project(values, basis, task_side=True).T  # (width, N) = basisᵀ X
    core_u, s, vt = np.linalg.svd(small, full_matrices=False)
    task, example = _orient((basis @ core_u)[:, :rank], vt[:rank].T)
    s = s[:n_values]
    explained = np.concatenate([[0.0], np.cumsum(s[:rank] ** 2)])
    sse = np.clip(total - explained, 0.0, None)
    return Spectrum(s, sse, LowRankFit(task, s[:rank].copy(), example), "randomized")


def masked_als(
    values: np.ndarray,
    rank: int,
    *,
    init: LowRankFit | None = None,
    max_iter: int = 300,
    tol: float = 1e-12,
    seed: int = 0,
) -> LowRankFit:
    """Rank-r least squares over the measured entries only, by alternating least squares.

    Each half-step solves, for every task (resp. example) at once, the r × r normal equations
    over that task's measured entries; the batched systems are built with one matrix product
    against the outer products of the other side's factors. Starts from ``init`` (e.g. the fit
    of rank r − 1 padded with a random column) or from a seeded random start; stops when the
    relative decrease of the error falls below ``tol``, or when it crawls (below 10⁻³ of the
    error and 10⁻⁸ of the total sum of squares, so R² moves by less than 10⁻⁸), warning with
    :class:`ConvergenceWarning` at ``max_iter``.
    """
    m = values.shape[0]
    rng = np.random.default_rng(seed)
    data = np.asarray(values, dtype=np.float64)
    mask = np.isfinite(data)
    data = np.where(mask, data, 0.0)
    weights = mask.astype(np.float64)
    data_t, weights_t = np.ascontiguousarray(data.T), np.ascontiguousarray(weights.T)
    if init is not None and init.rank >= rank:
        left = init.task_factors[:, :rank] * init.singular_values[:rank]
    else:
        left = rng.standard_normal((m, rank)) * np.sqrt(np.abs(data).mean() + 1e-12)
        if init is not None and init.rank:
            left[:, : init.rank] = init.task_factors * init.singular_values
    scale = float((data**2).sum()) + 1e-300
    measured = data[mask]
    total = float(((measured - measured.mean()) ** 2).sum()) if measured.size else 0.0  # SST
    ridge = 1e-12
    previous = np.inf
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (n_iter is reported)
        right = _solve_side(data_t, weights_t, left, ridge)  # (N, r)
        left = _solve_side(data, weights, right, ridge)  # (M, r)
        error = _masked_error(data, weights, left, right)
        if error <= 1e-28 * scale:
            break
        if np.isfinite(previous):
            gain = previous - error
            # Converged, or a slow crawl (e.g. a component fitting noise) that no longer moves
            # R² visibly; an exact low-rank fit keeps a large relative gain and goes on.
            if gain <= tol * previous or (gain <= 1e-3 * previous and gain <= 1e-8 * total):
                break
        previous = error
    else:
        warnings.warn(
            f"masked rank-{rank} fit stopped after {max_iter} iterations before converging",
            ConvergenceWarning,
            stacklevel=2,
        )
    return _from_factors(left, right, masked=True, n_iter=n_iter)


def _solve_side(
    data: np.ndarray, weights: np.ndarray, other: np.ndarray, ridge: float
) -> np.ndarray:
    """Least-squares factors of each row of ``data`` given the other side's factors.

    data, weights : (P, Q); other : (Q, r). Returns (P, r) with, for row p,
    ``(Σ_q w_pq o_q o_qᵀ + λI) f_p = Σ_q w_pq x_pq o_q``. Blocks over P and Q keep the
    (Q, r²) outer products and the (P, r, r) systems small.
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
        scale = np.trace(normal, axis1=1, axis2=2)[:, None, None] / rank + 1e-300
        normal += ridge * scale * np.eye(rank)
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


def low_rank_fit(values: np.ndarray, rank: int, *, seed: int = 0) -> LowRankFit:
    """The best rank-``rank`` approximation of ``values`` over its measured entries.

    Parameters
    ----------
    values : ndarray of shape (n_tasks, n_examples)
        Forgetting values; NaN means not measured.
    rank : int
        Number of components, ``1 <= rank < min(n_tasks, n_examples)``.
    seed : int
        Seeds the randomized SVD of large matrices and the start of the masked fit.

    Returns
    -------
    LowRankFit
        A truncated SVD when every entry is measured; masked alternating least squares (rank
        1, 2, ..., ``rank``, each started from the previous one) when there are NaN.
    """
    values = checked_matrix(values)
    check_rank(rank, values.shape)
    if np.isfinite(values).all():
        return complete_spectrum(values, rank, seed=seed).fit
    return masked_fits(values, rank, seed=seed)[-1]


def complete_spectrum(values: np.ndarray, rank: int, *, seed: int = 0) -> Spectrum:
    """Spectrum and rank-k errors of a complete matrix: exact Gram path or randomized SVD."""
    if min(values.shape) <= GRAM_LIMIT:
        return gram_spectrum(values, rank)
    total = sum(
        float((np.asarray(values[:, c], np.float64) ** 2).sum())
        for c in column_blocks(values.shape[1])
    )
    return randomized_spectrum(values, rank, total, n_values=max(2 * rank, 20), seed=seed)


def masked_fits(values: np.ndarray, rank: int, *, seed: int = 0) -> list[LowRankFit]:
    """Masked ALS fits of rank 1..``rank``, each warm-started from the one before."""
    fits: list[LowRankFit] = []
    previous: LowRankFit | None = None
    for k in range(1, rank + 1):
        previous = masked_als(values, k, init=previous, seed=seed + k)
        fits.append(previous)
    return fits


def masked_sse(values: np.ndarray, fit: LowRankFit) -> float:
    """Sum of squared errors of ``fit`` over the measured entries, streamed."""
    left = fit.task_factors * fit.singular_values
    total = 0.0
    for cols in column_blocks(values.shape[1]):
        block, finite = float_block(values, cols)
        error = (block - left @ fit.example_factors[cols].T) ** 2
        total += float((error if finite is None else error * finite).sum())
    return total
