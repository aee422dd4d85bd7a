"""Nearest training tasks: baseline-centred similarity on the probed examples, shrunk toward 0."""

from __future__ import annotations

import numpy as np

from forgetmap.predict._additive import fit_additive
from forgetmap.predict._base import CompletionEstimator


class KNN(CompletionEstimator):
    """Predict a new task's deviations from the additive baseline by its most similar tasks.

    The baseline is μ + a_new + b_j (see :class:`~forgetmap.predict.Additive`). Similarity to a
    training task is the cosine of the two tasks' baseline residuals on the probed examples they
    share, multiplied by ``n / (n + shrinkage)`` so that few common entries count for little. The
    prediction adds the similarity-weighted mean residual of the ``n_neighbors`` most similar
    (positively correlated) training tasks to the baseline, like KNNBaseline in recommenders.

    Parameters
    ----------
    n_neighbors : int, default=10
    shrinkage : float, default=10.0

    Attributes
    ----------
    column_effect_ : ndarray of shape (n_examples,)
    residuals_ : ndarray of shape (n_tasks, n_examples)
        Training residuals from the additive baseline, 0 where unmeasured.
    measured_ : ndarray of bool, shape (n_tasks, n_examples)
    noise_var_, task_var_ : float
    """

    def __init__(self, n_neighbors: int = 10, shrinkage: float = 10.0) -> None:
        self.n_neighbors = n_neighbors
        self.shrinkage = shrinkage

    def _fit(self, Z: np.ndarray) -> None:
        column, task, self.noise_var_, self.task_var_ = fit_additive(Z)
        finite = np.isfinite(Z)
        self.column_effect_ = column
        residual = Z - column.astype(Z.dtype)[None, :] - task.astype(Z.dtype)[:, None]
        self.residuals_ = np.where(finite, residual, 0).astype(Z.dtype)
        self.measured_ = finite
        self._complete = bool(finite.all())

    def _task_effect(self, cols: np.ndarray, values: np.ndarray) -> float:
        shrink = self.noise_var_ / self.task_var_ if self.task_var_ > 0 else 0.0
        return float((values - self.column_effect_[cols]).sum() / (len(cols) + shrink))

    def neighbours(
        self, cols: np.ndarray, values: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Indices and weights of the nearest training tasks, and the new task's effect."""
        effect = self._task_effect(cols, values)
        target = values - self.column_effect_[cols] - effect  # (k,)
        block = self.residuals_[:, cols].astype(np.float64)  # (M, k)
        shared = self.measured_[:, cols]
        common = shared.sum(axis=1)
        norm = np.sqrt((block**2).sum(axis=1) * (shared * target**2).sum(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            similarity = np.where(norm > 0, block @ target / norm, 0.0)
        similarity *= common / (common + float(self.shrinkage))
        order = np.argsort(-similarity, kind="stable")[: int(self.n_neighbors)]
        order = order[similarity[order] > 0]
        return order, similarity[order], effect

    def _fold_in_many(
        self, cols: list[np.ndarray], values: list[np.ndarray], with_scale: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        n_rows, n = len(cols), self.n_examples_
        weights = np.zeros((n_rows, self.residuals_.shape[0]))
        effects = np.zeros(n_rows)
        for row, (c, v) in enumerate(zip(cols, values, strict=True)):
            index, weight, effects[row] = self.neighbours(c, v)
            weights[row, index] = weight
        W = weights.astype(self.residuals_.dtype)
        numerator = (W @ self.residuals_).astype(np.float64)  # (S, N)
        if self._complete:
            denominator = weights.sum(axis=1, keepdims=True)
        else:
            denominator = (W @ self.measured_.astype(W.dtype)).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            deviation = np.where(denominator > 0, numerator / denominator, 0.0)
        prediction = self.column_effect_[None, :] + effects[:, None] + deviation
        if not with_scale:
            return prediction, None
        spread = (W @ (self.residuals_**2)).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            variance = np.where(denominator > 0, spread / denominator - deviation**2, 0.0)
        variance = np.maximum(variance, 0.0) + self.noise_var_ / max(int(self.n_neighbors), 1)
        return prediction, np.sqrt(np.broadcast_to(variance, (n_rows, n)))
