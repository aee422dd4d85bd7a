"""Additive model: forgetting = μ + a_task + b_example, a_task of a new task from its probes."""

from __future__ import annotations

import numpy as np

from forgetmap.predict._base import StreamingEstimator, column_means


def fit_additive(Z: np.ndarray, n_iter: int = 10) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Least-squares task and example effects of a NaN-masked matrix by alternating means.

    Returns
    -------
    column_effect : ndarray of shape (n_examples,)
        μ + b_j: what a task with a zero task effect forgets of each example.
    task_effect : ndarray of shape (n_tasks,)
        a_i, centred on 0.
    noise_var : float
        Mean squared residual (σ²).
    task_var : float
        Variance of the task effects (τ², the prior of a new task's effect).
    """
    finite = np.isfinite(Z)
    filled = np.where(finite, Z, 0.0)
    column, _ = column_means(Z)
    task = np.zeros(Z.shape[0])
    complete = bool(finite.all())
    for _ in range(1 if complete else n_iter):
        residual = filled - column[None, :]
        task = np.where(finite, residual, 0.0).sum(axis=1) / np.maximum(finite.sum(axis=1), 1)
        if complete:
            break
        residual = filled - task[:, None]
        count = finite.sum(axis=0)
        column = np.where(
            count > 0, np.where(finite, residual, 0.0).sum(axis=0) / np.maximum(count, 1), column
        )
    shift = task.mean()
    task, column = task - shift, column + shift
    residual = np.where(finite, filled - column[None, :] - task[:, None], 0.0)
    dof = max(finite.sum() - Z.shape[0] - Z.shape[1] + 1, 1)
    noise_var = float((residual**2).sum() / dof)
    task_var = float(np.var(task)) if len(task) > 1 else 0.0
    return column, task, noise_var, task_var


class Additive(StreamingEstimator):
    """μ + a_new + b_j, with a_new the shrunk mean of the probes' residuals.

    a_new is the posterior mean under a prior a ~ N(0, τ²) learned from the training tasks and
    Gaussian noise σ²: ``a_new = Σ(y - μ - b) / (k + alpha · σ²/τ²)``.

    Parameters
    ----------
    alpha : float, default=1.0
        Multiplies the shrinkage σ²/τ² (0: plain mean of the residuals).

    Attributes
    ----------
    column_effect_ : ndarray of shape (n_examples,)
        μ + b_j.
    task_effects_ : ndarray of shape (n_tasks,)
    noise_var_, task_var_ : float
    """

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def _fit(self, Z: np.ndarray) -> None:
        self.column_effect_, self.task_effects_, self.noise_var_, self.task_var_ = fit_additive(Z)

    def _scale_unit(self) -> float:
        return float(np.sqrt(self.noise_var_)) if self.noise_var_ > 0 else 1.0

    def _shrinkage(self) -> float:
        if self.task_var_ <= 0:
            return 1e12 if self.noise_var_ > 0 else 0.0
        return float(self.alpha) * self.noise_var_ / self.task_var_

    def task_effect(self, cols: np.ndarray, values: np.ndarray) -> tuple[float, float]:
        """A new task's effect a_new and its posterior variance from its probes."""
        residual = values - self.column_effect_[cols]
        precision = len(cols) + self._shrinkage()
        effect = float(residual.sum() / precision) if precision > 0 else 0.0
        variance = self.noise_var_ / precision if precision > 0 else self.task_var_
        return effect, variance

    def _posterior(
        self, cols: list[np.ndarray], values: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each row's task effect and its posterior variance, arrays of shape (n_rows,)."""
        effects = [self.task_effect(c, v) for c, v in zip(cols, values, strict=True)]
        return np.array([e for e, _ in effects]), np.array([v for _, v in effects])

    def _expand(
        self,
        posterior: tuple[np.ndarray, np.ndarray],
        columns: slice | np.ndarray,
        with_scale: bool,
        row_products: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        shift, variance = posterior
        column = self.column_effect_[columns]
        prediction = column[None, :] + shift.astype(column.dtype)[:, None]
        if not with_scale:
            return prediction, None
        return prediction, np.sqrt(self.noise_var_ + variance).astype(column.dtype)[:, None]
