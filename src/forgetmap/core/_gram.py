"""Exact singular value decomposition of a complete matrix through its short side's Gram matrix.

For an (M, N) matrix with M ≪ N, ``X Xᵀ`` is M × M: one streamed pass of M² N flops and a small
eigendecomposition give every singular value and the task factors; the example factors are one
more streamed product ``Xᵀ U / s``.
"""

from __future__ import annotations

import numpy as np

from forgetmap.core._blocks import column_blocks
from forgetmap.core._factors import orient

__all__ = ["gram_eigenpairs", "gram_svd", "project", "short_side_gram"]


def short_side_gram(values: np.ndarray) -> tuple[np.ndarray, bool]:
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


def gram_eigenpairs(gram: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Every eigenvalue of a Gram matrix, largest first and clipped at 0, and the leading
    ``rank`` eigenvectors, ndarray of shape (size,) and (size, rank)."""
    eigenvalues, vectors = np.linalg.eigh(gram)
    order = np.argsort(eigenvalues)[::-1]
    return np.clip(eigenvalues[order], 0.0, None), vectors[:, order[:rank]]


def project(values: np.ndarray, basis: np.ndarray, task_side: bool) -> np.ndarray:
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


def gram_svd(values: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The leading ``rank`` singular triplets of a complete matrix, and all its singular values.

    Parameters
    ----------
    values : ndarray of shape (n_tasks, n_examples)
        Complete (no NaN); float32 or float64, never copied whole.
    rank : int
        At most ``min(n_tasks, n_examples)``.

    Returns
    -------
    task_factors : ndarray of shape (n_tasks, rank)
        Orthonormal; each column's loadings sum to a non-negative number.
    singular_values : ndarray of shape (min(n_tasks, n_examples),)
        All of them, largest first (the tail gives the error of every truncation).
    example_factors : ndarray of shape (n_examples, rank)
        Orthonormal where the singular value is positive, 0 where it is 0.
    """
    gram, task_side = short_side_gram(values)
    eigenvalues, vectors = gram_eigenpairs(gram, rank)
    s = np.sqrt(eigenvalues)
    other = project(values, vectors, task_side)  # (other side, rank) = side @ U · s
    with np.errstate(invalid="ignore", divide="ignore"):
        other = np.where(s[:rank] > 0, other / s[:rank], 0.0)
    left, right = (vectors, other) if task_side else (other, vectors)
    left, right = orient(left, right)
    return left, s, right
