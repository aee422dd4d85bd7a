"""Column means: "the examples that are always forgotten", the floor every method must beat."""

from __future__ import annotations

import numpy as np

from forgetmap.predict._base import StreamingEstimator, column_means


class ColumnMean(StreamingEstimator):
    """Predict each example's mean forgetting over the training tasks, ignoring the probes.

    Attributes
    ----------
    column_means_ : ndarray of shape (n_examples,)
    column_std_ : ndarray of shape (n_examples,)
        Spread of each example over the training tasks (the interval scale).
    """

    def __init__(self) -> None:
        pass

    def _fit(self, Z: np.ndarray) -> None:
        self.column_means_, self.grand_mean_ = column_means(Z)
        residual = np.where(np.isfinite(Z), Z - self.column_means_, np.nan)
        spread = np.sqrt(np.nanmean(residual**2)) if np.isfinite(residual).any() else 1.0
        count = np.isfinite(Z).sum(axis=0)
        sq = np.where(np.isfinite(residual), residual**2, 0.0).sum(axis=0)
        # Columns seen in few tasks borrow strength from the pooled spread.
        self.column_std_ = np.sqrt((sq + 2.0 * spread**2) / (count + 2.0))

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
