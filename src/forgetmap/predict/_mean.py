"""Column means: "the examples that are always forgotten", the floor every method must beat."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from forgetmap.predict._base import StreamingEstimator, column_means

if TYPE_CHECKING:
    from forgetmap.predict._loo import TrainingStatistics


class ColumnMean(StreamingEstimator):
    """Predict each example's mean forgetting over the training tasks, ignoring the probes.

    Attributes
    ----------
    column_means_ : ndarray of shape (n_examples,)
    column_std_ : ndarray of shape (n_examples,)
        Spread of each example over the training tasks (the interval scale).
    """

    fits_from_statistics = True

    def __init__(self) -> None:
        pass

    def _fit(self, Z: np.ndarray) -> None:
        means, grand_mean = column_means(Z)
        finite = np.isfinite(Z)
        squares = np.where(finite, Z - means, 0.0) ** 2
        self._set_state(means, grand_mean, squares.sum(axis=0), finite.sum(axis=0))

    def _fit_statistics(self, statistics: TrainingStatistics) -> None:
        means, count = statistics.column_means, statistics.n_tasks
        # Σ_i (z_ij − mean_j)² = Σ_i z_ij² − count · mean_j²
        squares = np.maximum(statistics.column_squares - count * means**2, 0.0)
        counts = np.full(statistics.n_examples, count)
        means = means.astype(statistics.dtype, copy=False)
        self._set_state(means, float(statistics.column_means.mean()), squares, counts)

    def _set_state(
        self, means: np.ndarray, grand_mean: float, squares: np.ndarray, counts: np.ndarray
    ) -> None:
        """State from each column's mean, its sum of squared deviations and its count."""
        self.column_means_, self.grand_mean_ = means, grand_mean
        measured = counts.sum()
        pooled = squares.sum() / measured if measured else 1.0
        # Columns seen in few tasks borrow strength from the pooled spread.
        spread = np.sqrt((squares + 2.0 * pooled) / (counts + 2.0))
        self.column_std_ = spread.astype(means.dtype, copy=False)

    def _posterior(self, cols: list[np.ndarray], values: list[np.ndarray]) -> int:
        return len(cols)  # the probes change nothing

    def _expand(
        self,
        posterior: int,
        columns: slice | np.ndarray,
        with_scale: bool,
        row_products: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        prediction = self.column_means_[columns][None, :]
        return prediction, self.column_std_[columns][None, :] if with_scale else None
