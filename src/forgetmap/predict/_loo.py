"""Leave-one-task-out without refitting: every fold's estimators from statistics of all tasks.

For a complete matrix, the fit of every continuous completion method depends on the training
rows only through column sums, column sums of squares, row sums and the tasks' Gram matrix
``Z Zᵀ`` (n_tasks × n_tasks). These are computed in one pass over the matrix; a fold then
subtracts its held-out row (a downdate) into :class:`TrainingStatistics`, and each estimator
fits itself from them (:meth:`~forgetmap.predict.CompletionEstimator.fit_statistics`): e.g.
the low-rank factors come from the eigendecomposition of the (M-1) × (M-1) centred Gram
submatrix — never a decomposition of an n_examples-sized matrix per fold. The estimators come
out in the state :meth:`~forgetmap.predict.CompletionEstimator.fit` gives them (up to rounding
in the matrix's precision), so predictions, intervals and metrics are those of the
refit-per-fold protocol.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from forgetmap.core import Moments
from forgetmap.predict._base import CompletionEstimator

__all__ = ["LeaveOneOut", "TrainingStatistics"]


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

    def fold(self, held_out: int) -> TrainingStatistics:
        """The statistics of every row but ``held_out``: the sums minus that row."""
        return TrainingStatistics(self, held_out)

    @staticmethod
    def supports(estimator: CompletionEstimator) -> bool:
        """Whether ``estimator`` fits from shared statistics (continuous completion methods)."""
        return bool(estimator.fits_from_statistics)

    def fit(self, estimator: CompletionEstimator, held_out: int) -> CompletionEstimator:
        """Put ``estimator`` in the state ``fit(Z without row held_out)`` gives it; returns it."""
        return estimator.fit_statistics(self.fold(held_out))

    def fit_all(
        self, estimators: list[CompletionEstimator], held_out: int
    ) -> list[CompletionEstimator]:
        """:meth:`fit` of several estimators for one fold, sharing the fold's statistics."""
        statistics = self.fold(held_out)
        return [estimator.fit_statistics(statistics) for estimator in estimators]


class TrainingStatistics:
    """Sums over the training rows of a complete matrix: what a fold's estimators fit from.

    Attributes
    ----------
    matrix : ndarray of shape (n_tasks_all, n_examples)
        Every row of the matrix (training and held-out), by reference.
    rows : ndarray of int of shape (n_tasks,)
        The training rows.
    column_sums, column_squares : ndarray of shape (n_examples,)
        Σ_i z_ij and Σ_i z_ij² over the training rows, float64.
    row_sums : ndarray of shape (n_tasks,)
        Σ_j z_ij of each training row, float64.
    """

    def __init__(self, source: LeaveOneOut, held_out: int) -> None:
        self._source = source
        self.matrix = source.Z
        self.rows = np.setdiff1d(np.arange(self.matrix.shape[0]), [held_out])
        row = self.matrix[held_out].astype(np.float64)
        self.column_sums = source.colsum - row
        self.column_squares = source.colsq - row**2
        self.row_sums = source.rowsum[self.rows]

    @property
    def n_tasks(self) -> int:
        return len(self.rows)

    @property
    def n_examples(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def dtype(self) -> np.dtype:
        """The matrix's precision, which fitted N-sized state is kept in."""
        return self.matrix.dtype

    @functools.cached_property
    def column_means(self) -> np.ndarray:
        """Mean of each column over the training rows, (n_examples,) float64."""
        return self.column_sums / self.n_tasks

    @property
    def gram(self) -> np.ndarray:
        """``Z[rows] Z[rows]ᵀ``, (n_tasks, n_tasks) float64."""
        return self._source.gram[np.ix_(self.rows, self.rows)]

    @property
    def moments(self) -> Moments:
        """The training rows' sums and counts, as :func:`forgetmap.core.fit_additive` takes them."""
        m, n = self.n_tasks, self.n_examples
        return Moments(self.row_sums, np.full(m, n), self.column_sums, np.full(n, m), True)

    def training_block(self, columns: np.ndarray) -> np.ndarray:
        """The training rows' entries in ``columns``, (n_tasks, len(columns)); the block of all
        rows is cached by the shared statistics (every fold calibrates on the same columns)."""
        return self._source.column_block(columns)[self.rows]
