"""Leave-one-task-out without refitting: every fold's estimator from statistics of all tasks.

For a complete matrix, the fit of every continuous completion method depends on the training
rows only through column sums, column sums of squares, row sums and the tasks' Gram matrix
``Z Zᵀ`` (n_tasks × n_tasks). These are computed in one pass over the matrix; a fold then
subtracts its held-out row (a downdate) and gets, e.g., the low-rank factors from the
eigendecomposition of the (M-1) × (M-1) centred Gram submatrix — never a decomposition of an
n_examples-sized matrix per fold. The example factors ``Zᵀ A / s`` are not even stored: a fold
computes them for the columns it is asked about (:class:`~forgetmap.predict._lowrank.FactorRows`),
which the evaluation does one column block at a time. The estimators come out in the state
:meth:`~CompletionEstimator.fit` gives them (up to rounding in the matrix's precision), so
predictions, intervals and metrics are those of the refit-per-fold protocol.
"""

from __future__ import annotations

import threading

import numpy as np

from forgetmap.predict._additive import Additive
from forgetmap.predict._base import CompletionEstimator
from forgetmap.predict._knn import KNN
from forgetmap.predict._lowrank import FactorRows, LowRank
from forgetmap.predict._mean import ColumnMean

__all__ = ["LeaveOneOut"]

FAST = (ColumnMean, Additive, LowRank, KNN)
"""Estimator classes with a fast leave-one-task-out fit (LowRank includes Multiplicative), besides
the tuned ones: an estimator that ``choose``s a candidate by inner validation (``_tuned``, which
builds on these statistics itself, so it is recognised by that method, not imported here)."""


class LeaveOneOut:
    """Shared statistics of a complete (n_tasks, n_examples) matrix for leave-one-task-out fits.

    Parameters
    ----------
    Z : ndarray of shape (n_tasks, n_examples)
        Complete (no NaN); kept by reference, read once here and once per fold by the low-rank
        and nearest-neighbour fits.
    block : int
        Columns per block of the one pass (bounds the float64 temporaries).
    """

    def __init__(self, Z: np.ndarray, block: int = 65_536) -> None:
        self.Z = Z
        m, n = Z.shape
        self.colsum = np.zeros(n)
        self.colsq = np.zeros(n)
        self.gram = np.zeros((m, m))
        for start in range(0, n, block):
            part = Z[:, start : start + block].astype(np.float64)
            self.colsum[start : start + block] = part.sum(axis=0)
            self.colsq[start : start + block] = np.einsum("ij,ij->j", part, part)
            self.gram += part @ part.T
        self.rowsum = Z.sum(axis=1, dtype=np.float64)
        self._blocks: dict[bytes, np.ndarray] = {}
        self._lock = threading.Lock()

    def column_block(self, columns: np.ndarray) -> np.ndarray:
        """``Z[:, columns]`` (n_tasks, len(columns)), cached: every fold calibrates on it."""
        key = columns.tobytes()
        with self._lock:
            block = self._blocks.get(key)
            if block is None:
                if len(self._blocks) >= 4:
                    self._blocks.clear()
                block = self._blocks[key] = self.Z[:, columns]
        return block

    @staticmethod
    def supports(estimator: CompletionEstimator) -> bool:
        """Whether ``estimator`` has a fast fit (continuous completion methods)."""
        return (isinstance(estimator, FAST) or _is_tuned(estimator)) and not estimator.binary_only

    def fit(self, estimator: CompletionEstimator, held_out: int) -> CompletionEstimator:
        """Put ``estimator`` in the state ``fit(Z without row held_out)`` gives it; returns it."""
        return self.fit_all([estimator], held_out)[0]

    def fit_all(
        self, estimators: list[CompletionEstimator], held_out: int
    ) -> list[CompletionEstimator]:
        """:meth:`fit` of several estimators for one fold, sharing the fold's column statistics.

        The fold's N-sized state (column means, effects, spreads) is kept in the matrix's
        precision: float32 for a float32 matrix, which halves the memory traffic of streaming.
        """
        Z = self.Z
        m, n = Z.shape
        dtype = Z.dtype
        train = np.setdiff1d(np.arange(m), [held_out])
        row = Z[held_out].astype(np.float64)
        means = (self.colsum - row) / (m - 1)
        additive = None
        for estimator in estimators:
            estimator.n_examples_ = n
            if isinstance(estimator, ColumnMean):
                self._mean(estimator, means, row, m - 1, dtype)
            elif isinstance(estimator, (Additive, KNN)):
                if additive is None:
                    additive = self._additive(means, row, train)
                column, task, noise_var, task_var = additive
                column = column.astype(dtype, copy=False)
                if isinstance(estimator, KNN):
                    estimator._set_state(Z, train, column, task, noise_var, task_var)
                else:
                    estimator.column_effect_, estimator.task_effects_ = column, task
                    estimator.noise_var_, estimator.task_var_ = noise_var, task_var
            elif _is_tuned(estimator):
                # the inner validation reads a column sample of the training rows, as fit does;
                # the chosen estimator is then fitted like any other
                estimator.estimator_ = self.fit_all([estimator.choose(Z, train)], held_out)[0]
            else:
                assert isinstance(estimator, LowRank)
                self._lowrank(estimator, means, train)
            self._calibrate_from_shared(estimator, train)
        return estimators

    def _calibrate_from_shared(self, estimator: CompletionEstimator, train: np.ndarray) -> None:
        """Conformal calibration reads the fold's training rows from these statistics' matrix."""
        estimator._conformal = {}
        estimator._calibration_matrix = self
        estimator._calibration_rows = train

    def _mean(
        self,
        estimator: ColumnMean,
        means: np.ndarray,
        row: np.ndarray,
        count: int,
        dtype: np.dtype,
    ) -> None:
        estimator.column_means_ = means.astype(dtype, copy=False)
        estimator.grand_mean_ = float(means.mean())
        sq = np.maximum((self.colsq - row**2) - count * means**2, 0.0)
        spread = np.sqrt(sq.sum() / (count * len(means)))
        estimator.column_std_ = np.sqrt((sq + 2.0 * spread**2) / (count + 2.0)).astype(
            dtype, copy=False
        )

    def _additive(
        self, means: np.ndarray, row: np.ndarray, train: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float, float]:
        count, n = len(train), len(means)
        task = self.rowsum[train] / n - means.mean()
        shift = task.mean()
        task, column = task - shift, means + shift
        # Σ (z - m - t)² = Σ (z - m)² - n Σ t² (t is the row mean of z - m).
        centred_ss = float((self.colsq - row**2).sum() - count * (means @ means))
        residual_ss = max(centred_ss - n * float((task + shift) @ (task + shift)), 0.0)
        dof = max(count * n - count - n + 1, 1)
        task_var = float(np.var(task)) if count > 1 else 0.0
        return column, task, residual_ss / dof, task_var

    def _lowrank(self, estimator: LowRank, means: np.ndarray, train: np.ndarray) -> None:
        count, n = len(train), len(means)
        gram = self.gram[np.ix_(train, train)]
        if estimator.center:
            centre = np.eye(count) - 1.0 / count
            small = centre @ gram @ centre
        else:
            means = np.zeros(n)
            small = gram
        eigvals, eigvecs = np.linalg.eigh(small)
        order = np.argsort(eigvals)[::-1][: int(estimator.rank)]
        s = np.sqrt(np.clip(eigvals[order], 0.0, None))
        U = eigvecs[:, order]
        keep = s > max(s[0] if s.size else 0.0, 1e-300) * 1e-7
        s, U = s[keep], U[:, keep]
        weights = np.zeros((self.Z.shape[0], len(s)))
        weights[train] = U
        means = means.astype(self.Z.dtype, copy=False)
        total = float(np.trace(small))
        residual_ss = max(total - float((s**2).sum()), 0.0)
        estimator.n_iter_ = 0
        estimator._set_factors(
            means,
            U,
            s,
            FactorRows(self.Z, weights, means, s),
            residual_ss,
            count * n,
            (count, n),
            total / (count * n),
        )


def _is_tuned(estimator: CompletionEstimator) -> bool:
    """A tuned estimator (``_tuned.Tuned``): it chooses its candidate by inner validation."""
    return callable(getattr(estimator, "choose", None))
