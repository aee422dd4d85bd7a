"""Additive model: forgetting = μ + a_task + b_example, a_task of a new task from its probes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from forgetmap.core import (
    AdditiveFit,
    additive_residual_ss,
    complete_additive_residual_ss,
    fit_additive,
)
from forgetmap.predict._base import StreamingEstimator

if TYPE_CHECKING:
    from forgetmap.predict._loo import TrainingStatistics

__all__ = ["Additive", "AdditiveState", "additive_state", "additive_state_of_statistics"]


@dataclass(frozen=True)
class AdditiveState:
    """The additive fit of the training rows as the estimators that fold in on it keep it.

    Attributes
    ----------
    column_effect : ndarray of shape (n_examples,)
        μ + b_j: what a task with a zero task effect forgets of each example.
    task_effects : ndarray of shape (n_tasks,)
        a_i, centred on 0.
    noise_var : float
        Residual variance per measured entry (σ², the residual sum of squares over the degrees
        of freedom left by μ, the a_i and the b_j).
    task_var : float
        Variance of the task effects (τ², the prior of a new task's effect).
    """

    column_effect: np.ndarray
    task_effects: np.ndarray
    noise_var: float
    task_var: float

    @classmethod
    def from_fit(
        cls, fit: AdditiveFit, residual_ss: float, n_measured: int, shape: tuple[int, int]
    ) -> AdditiveState:
        dof = max(n_measured - shape[0] - shape[1] + 1, 1)
        task = fit.task_effects
        task_var = float(np.var(task)) if len(task) > 1 else 0.0
        return cls(fit.column_effects, task, residual_ss / dof, task_var)


def additive_state(Z: np.ndarray) -> AdditiveState:
    """The exact least-squares additive fit of a NaN-masked matrix and its noise levels.

    The fit is :func:`forgetmap.core.fit_additive`, the one ``forgetmap analyze`` reports.
    """
    fit = fit_additive(Z)
    n_measured = int(np.isfinite(Z).sum())
    return AdditiveState.from_fit(fit, additive_residual_ss(Z, fit), n_measured, Z.shape)


def additive_state_of_statistics(statistics: TrainingStatistics) -> AdditiveState:
    """:func:`additive_state` of the training rows of a complete matrix, from its statistics.

    The column effects are kept in the matrix's precision (float32 for a float32 matrix, which
    halves the memory traffic of streaming predictions).
    """
    fit = fit_additive(None, statistics.moments)
    m, n = statistics.n_tasks, statistics.n_examples
    residual_ss = complete_additive_residual_ss(fit, statistics.column_squares, m)
    state = AdditiveState.from_fit(fit, residual_ss, m * n, (m, n))
    column = state.column_effect.astype(statistics.dtype, copy=False)
    return AdditiveState(column, state.task_effects, state.noise_var, state.task_var)


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

    fits_from_statistics = True

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def _fit(self, Z: np.ndarray) -> None:
        self._set_state(additive_state(Z))

    def _fit_statistics(self, statistics: TrainingStatistics) -> None:
        self._set_state(additive_state_of_statistics(statistics))

    def _set_state(self, state: AdditiveState) -> None:
        self.column_effect_, self.task_effects_ = state.column_effect, state.task_effects
        self.noise_var_, self.task_var_ = state.noise_var, state.task_var

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
