"""A rank-r approximation ``U diag(s) Vᵀ`` of a forgetting matrix, as every fit returns it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forgetmap.core._blocks import column_blocks, float_block

__all__ = ["LowRankFit", "masked_sse", "orient", "orthonormal_fit"]


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
    converged : bool
        False when alternating least squares stopped at its iteration limit.
    """

    task_factors: np.ndarray
    singular_values: np.ndarray
    example_factors: np.ndarray
    masked: bool = False
    n_iter: int = 0
    converged: bool = True

    @property
    def rank(self) -> int:
        return int(self.singular_values.shape[0])

    def reconstruct(self) -> np.ndarray:
        """The approximation, ndarray of shape (n_tasks, n_examples)."""
        return (self.task_factors * self.singular_values) @ self.example_factors.T


def orient(task: np.ndarray, example: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fix the sign ambiguity of each component: task loadings sum to a non-negative number."""
    signs = np.where(task.sum(axis=0) < 0, -1.0, 1.0)
    return task * signs, example * signs


def orthonormal_fit(
    left: np.ndarray, right: np.ndarray, *, masked: bool, n_iter: int, converged: bool = True
) -> LowRankFit:
    """``left @ right.T`` as a :class:`LowRankFit` (QR of each side, then a small SVD)."""
    q_left, r_left = np.linalg.qr(left)
    q_right, r_right = np.linalg.qr(right)
    core_u, s, core_vt = np.linalg.svd(r_left @ r_right.T)
    task, example = orient(q_left @ core_u, q_right @ core_vt.T)
    return LowRankFit(task, s, example, masked, n_iter, converged)


def masked_sse(values: np.ndarray, fit: LowRankFit) -> float:
    """Sum of squared errors of ``fit`` over the measured entries of ``values``, streamed."""
    left = fit.task_factors * fit.singular_values
    total = 0.0
    for cols in column_blocks(values.shape[1]):
        block, finite = float_block(values, cols)
        error = (block - left @ fit.example_factors[cols].T) ** 2
        total += float((error if finite is None else error * finite).sum())
    return total
