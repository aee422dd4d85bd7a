"""The additive model ``values[i, j] ≈ mean + a_i + b_j``, fitted by exact least squares.

Only measured entries count and none is ever filled. With every entry measured the solution is
the two-way ANOVA one (row mean + column mean − grand mean), read from the row and column sums
alone; with NaN present the example effects are eliminated and the remaining normal equations
(the short side's, min(M, N) square) are solved exactly: no iteration, no filling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forgetmap.core._blocks import column_blocks, float_block

__all__ = [
    "AdditiveFit",
    "Moments",
    "additive_residual_ss",
    "complete_additive_residual_ss",
    "fit_additive",
    "moments",
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
class AdditiveFit:
    """``values[i, j] ≈ mean + task_effects[i] + example_effects[j]``.

    Each kind of effect sums to zero over the tasks (examples) with a measured entry; a task
    or example with none has effect 0.
    """

    mean: float
    task_effects: np.ndarray  # (M,)
    example_effects: np.ndarray  # (N,)

    @property
    def column_effects(self) -> np.ndarray:
        """``mean + example_effects``: what a task with effect 0 forgets of each example, (N,)."""
        return self.mean + self.example_effects

    def reconstruct(self) -> np.ndarray:
        """The fitted matrix, ndarray of shape (n_tasks, n_examples)."""
        return self.mean + self.task_effects[:, None] + self.example_effects[None, :]


def fit_additive(values: np.ndarray | None, stats: Moments | None = None) -> AdditiveFit:
    """Least-squares fit of ``μ + a_i + b_j`` over the measured entries of ``values``.

    Parameters
    ----------
    values : ndarray of shape (n_tasks, n_examples), or None
        NaN where unmeasured. Not read when ``stats`` says the matrix is complete (the fit is
        then the sums' closed form), so statistics kept from elsewhere may pass None.
    stats : Moments, optional
        The matrix's :func:`moments`, when the caller has them already.
    """
    if stats is None:
        if values is None:
            raise ValueError("fit_additive needs the matrix or its moments")
        stats = moments(values)
    mu = stats.mean
    if stats.complete:
        return AdditiveFit(mu, stats.row_mean - mu, stats.col_mean - mu)
    if values is None:
        raise ValueError("a matrix with missing entries is fitted from the matrix itself")
    m, n = values.shape
    if m > n:  # eliminate the longer side: the system is min(M, N) square
        swapped = fit_additive(values.T)
        return AdditiveFit(swapped.mean, swapped.example_effects, swapped.task_effects)
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
    task, shift_a = _centred(task, stats.row_n > 0)
    example, shift_b = _centred(example, stats.col_n > 0)
    return AdditiveFit(shift_a + shift_b, task, example)


def _centred(effects: np.ndarray, measured: np.ndarray) -> tuple[np.ndarray, float]:
    """Effects centred over the measured items (the others 0), and the mean taken out."""
    shift = float(effects[measured].mean()) if measured.any() else 0.0
    return np.where(measured, effects - shift, 0.0), shift


def additive_residual_ss(values: np.ndarray, fit: AdditiveFit) -> float:
    """Σ over the measured entries of (values − fit)², streamed over column blocks."""
    total = 0.0
    for cols in column_blocks(values.shape[1]):
        block, finite = float_block(values, cols)
        residual = block - fit.mean - fit.task_effects[:, None] - fit.example_effects[cols]
        np.multiply(residual, residual, out=residual)
        total += float(residual.sum() if finite is None else residual[finite].sum())
    return total


def complete_additive_residual_ss(
    fit: AdditiveFit, column_squares: np.ndarray, n_tasks: int
) -> float:
    """:func:`additive_residual_ss` of a complete matrix from its column sums of squares.

    With c_j = μ + b_j the column means and a_i the task effects (Σ a_i = 0),
    ``Σ (x − c_j − a_i)² = Σ_j (Σ_i x_ij² − M c_j²) − N Σ_i a_i²``: no pass over the matrix,
    which is what lets leave-one-task-out folds fit from shared sums.
    """
    column = fit.column_effects
    centred_ss = float(column_squares.sum() - n_tasks * (column @ column))
    return max(centred_ss - len(column) * float(fit.task_effects @ fit.task_effects), 0.0)
