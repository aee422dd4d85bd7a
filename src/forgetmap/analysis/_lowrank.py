"""Rank-k fits of the forgetting matrix, over its measured entries only.

A complete matrix gets its singular values from the Gram matrix of its short side when that
side is small (exact, one pass: :func:`forgetmap.core.gram_svd`), else from a randomized SVD. A
matrix with missing entries (NaN) is never filled with zeros: rank 1, 2, ..., k are fitted by
masked alternating least squares (:func:`forgetmap.core.alternating_least_squares`), each
started from the one before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forgetmap.analysis._blocks import check_rank, checked_matrix, column_blocks
from forgetmap.core import (
    ConvergenceWarning,
    LowRankFit,
    alternating_least_squares,
    gram_svd,
    masked_sse,
    orient,
    project,
)

__all__ = [
    "ConvergenceWarning",
    "LowRankFit",
    "Spectrum",
    "complete_spectrum",
    "low_rank_fit",
    "masked_fits",
    "masked_sse",
]

#: Largest short side for which the exact Gram-matrix spectrum is used.
GRAM_LIMIT = 2048
#: Iterations and relative tolerance of each masked fit (no penalty: the plain rank-k fit).
MAX_ITER = 300
TOL = 1e-12


@dataclass
class Spectrum:
    """Singular values of a complete matrix and the residual sums of squares of rank-k fits."""

    singular_values: np.ndarray  # all of them (Gram) or the leading ones (randomized)
    sse: np.ndarray  # (K + 1,): SSE of the rank-k fit for k = 0..K
    fit: LowRankFit  # rank K
    method: str


def gram_spectrum(values: np.ndarray, rank: int) -> Spectrum:
    """Exact spectrum of a complete matrix through the Gram matrix of its short side.

    SSE of the rank-k fit is the sum of the squared singular values beyond k (no cancellation
    against the total). Costs one pass of ``min(M,N)² · max(M,N)`` flops and a small
    eigendecomposition.
    """
    task, s, example = gram_svd(values, rank)
    squares = s**2
    tail = np.concatenate([np.cumsum(squares[::-1])[::-1], [0.0]])
    fit = LowRankFit(task, s[:rank].copy(), example)
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
    small = project(values, basis, task_side=True).T  # (width, N) = basisᵀ X
    core_u, s, vt = np.linalg.svd(small, full_matrices=False)
    task, example = orient((basis @ core_u)[:, :rank], vt[:rank].T)
    s = s[:n_values]
    explained = np.concatenate([[0.0], np.cumsum(s[:rank] ** 2)])
    sse = np.clip(total - explained, 0.0, None)
    return Spectrum(s, sse, LowRankFit(task, s[:rank].copy(), example), "randomized")


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
    """Masked least-squares fits of rank 1..``rank``, each warm-started from the one before."""
    fits: list[LowRankFit] = []
    previous: LowRankFit | None = None
    for k in range(1, rank + 1):
        previous = alternating_least_squares(
            values, k, init=previous, max_iter=MAX_ITER, tol=TOL, seed=seed + k
        )
        fits.append(previous)
    return fits
