"""Nearest training tasks: baseline-centred similarity on the probed examples, shrunk toward 0."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from forgetmap.predict._additive import AdditiveState, additive_state, additive_state_of_statistics
from forgetmap.predict._base import StreamingEstimator

if TYPE_CHECKING:
    from forgetmap.predict._loo import TrainingStatistics


class KNN(StreamingEstimator):
    """Predict a new task's deviations from the additive baseline by its most similar tasks.

    The baseline is μ + a_new + b_j (see :class:`~forgetmap.predict.Additive`). Similarity to a
    training task is the cosine of the two tasks' baseline residuals on the probed examples they
    share (the pearson-baseline similarity of recommenders), multiplied by
    ``n / (n + shrinkage)`` so that few common entries count for little.

    With ``interpolate=True`` (default) the ``n_neighbors`` most similar tasks (largest
    |similarity|) get jointly derived interpolation weights (Bell & Koren, 2007): the ridge
    regression of the new task's residuals on theirs at the probed examples, with penalty
    ``ridge · σ²``; the prediction adds the weighted sum of their residuals to the baseline.
    Unlike a similarity-weighted mean, the weights account for neighbours that say the same
    thing and can add up several tasks' patterns. With ``interpolate=False`` the prediction adds
    the similarity-weighted mean residual of the most similar positively correlated tasks,
    exactly as KNNBaseline does.

    Parameters
    ----------
    n_neighbors : int, default=20
    shrinkage : float, default=10.0
    interpolate : bool, default=True
    ridge : float, default=1.0
        Penalty of the interpolation weights, in units of the residual variance σ².

    Attributes
    ----------
    column_effect_ : ndarray of shape (n_examples,)
    residuals_ : ndarray of shape (n_tasks, n_examples)
        Training residuals from the additive baseline, 0 where unmeasured.
    measured_ : ndarray of bool, shape (n_tasks, n_examples)
    noise_var_, task_var_ : float
    """

    fits_from_statistics = True

    def __init__(
        self,
        n_neighbors: int = 20,
        shrinkage: float = 10.0,
        interpolate: bool = True,
        ridge: float = 1.0,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.shrinkage = shrinkage
        self.interpolate = interpolate
        self.ridge = ridge

    def _fit(self, Z: np.ndarray) -> None:
        self._set_state(Z, None, additive_state(Z))

    def _fit_statistics(self, statistics: TrainingStatistics) -> None:
        # The fold's rows are read from the statistics' matrix: no copy of them.
        additive = additive_state_of_statistics(statistics)
        self._set_state(statistics.matrix, statistics.rows, additive)

    def _set_state(self, Z: np.ndarray, rows: np.ndarray | None, additive: AdditiveState) -> None:
        """State from the additive fit of the training rows ``Z[rows]`` (all rows if None).

        A complete matrix is kept as is (residuals are formed on the fly, so a
        leave-one-task-out fold costs no copy of its rows); a masked one keeps its residuals.
        """
        column, task = additive.column_effect, additive.task_effects
        self.column_effect_ = column
        self.task_effects_ = task
        self.noise_var_, self.task_var_ = additive.noise_var, additive.task_var
        self._Z, self._rows = Z, rows
        self._complete = rows is not None or bool(np.isfinite(Z).all())
        # Task effects over all rows of the kept matrix (0 off the fold), as posterior weights are.
        self._task_all = task if rows is None else np.zeros(Z.shape[0])
        if rows is not None:
            self._task_all[rows] = task
        if not self._complete:
            finite = np.isfinite(Z)
            residual = Z - column.astype(Z.dtype)[None, :] - task.astype(Z.dtype)[:, None]
            self._residuals = np.where(finite, residual, 0).astype(Z.dtype)
            self._measured = finite

    @property
    def residuals_(self) -> np.ndarray:
        """Training residuals from the additive baseline (0 where unmeasured), (n_tasks, N)."""
        if not self._complete:
            return self._residuals
        return self._residual_columns(slice(None))

    @property
    def measured_(self) -> np.ndarray:
        """Which training entries are measured, shape (n_tasks, n_examples)."""
        if not self._complete:
            return self._measured
        return np.ones((len(self.task_effects_), self.n_examples_), dtype=bool)

    def _residual_columns(self, cols: np.ndarray | slice) -> np.ndarray:
        if self._rows is None:
            block = self._Z[:, cols]
        elif isinstance(cols, slice):
            block = self._Z[self._rows][:, cols]
        else:
            block = self._Z[np.ix_(self._rows, cols)]
        block = block - self.column_effect_[cols].astype(block.dtype)[None, :]
        return block - self.task_effects_.astype(block.dtype)[:, None]

    def _task_effect(self, cols: np.ndarray, values: np.ndarray) -> float:
        shrink = self.noise_var_ / self.task_var_ if self.task_var_ > 0 else 0.0
        return float((values - self.column_effect_[cols]).sum() / (len(cols) + shrink))

    def neighbours(
        self, cols: np.ndarray, values: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Indices and weights of the nearest training tasks, and the new task's effect."""
        effect = self._task_effect(cols, values)
        target = values - self.column_effect_[cols] - effect  # (k,)
        if self._complete:
            block = self._residual_columns(cols).astype(np.float64)  # (M, k)
            shared = np.ones(block.shape, dtype=bool)
        else:
            block = self._residuals[:, cols].astype(np.float64)
            shared = self._measured[:, cols]
        common = shared.sum(axis=1)
        norm = np.sqrt((block**2).sum(axis=1) * (shared * target**2).sum(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            similarity = np.where(norm > 0, block @ target / norm, 0.0)
        similarity *= common / (common + float(self.shrinkage))
        if not self.interpolate:
            order = np.argsort(-similarity, kind="stable")[: int(self.n_neighbors)]
            order = order[similarity[order] > 0]
            return order, similarity[order], effect
        order = np.argsort(-np.abs(similarity), kind="stable")[: int(self.n_neighbors)]
        order = order[similarity[order] != 0]
        A = (block[order] * shared[order]).T  # (k, K)
        penalty = float(self.ridge) * max(self.noise_var_, 1e-300)
        gram = A.T @ A + penalty * np.eye(len(order))
        return order, np.linalg.solve(gram, A.T @ target), effect

    def _posterior(
        self, cols: list[np.ndarray], values: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each row's weights on the rows of the kept matrix (0 off the fold), (n_rows, M), and
        its task effect (n_rows,)."""
        weights = np.zeros((len(cols), self._Z.shape[0]))
        effects = np.zeros(len(cols))
        rows = np.arange(len(self.task_effects_)) if self._rows is None else self._rows
        for row, (c, v) in enumerate(zip(cols, values, strict=True)):
            index, weight, effects[row] = self.neighbours(c, v)
            weights[row, rows[index]] = weight
        return weights, effects

    def _expand(
        self,
        posterior: tuple[np.ndarray, np.ndarray],
        columns: slice | np.ndarray,
        with_scale: bool,
        row_products: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        weights, effects = posterior
        column = self.column_effect_[columns]
        dtype = column.dtype
        baseline = column[None, :] + effects.astype(dtype)[:, None]
        if self.interpolate:
            prediction = self._weighted_residuals(weights, columns, False, row_products)[0]
            prediction += baseline
            if not with_scale:
                return prediction, None
            # Noise of the new task plus that carried by the weighted neighbours.
            sd = np.sqrt(self.noise_var_ * (1.0 + (weights**2).sum(axis=1)))
            return prediction, sd.astype(dtype)[:, None]
        numerator, spread = self._weighted_residuals(weights, columns, with_scale)
        denominator = weights.sum(axis=1, keepdims=True)
        if not self._complete:
            W = weights.astype(self._residuals.dtype)
            denominator = W @ self._measured[:, columns].astype(W.dtype)
        with np.errstate(invalid="ignore", divide="ignore"):
            deviation = np.where(denominator > 0, numerator / denominator, 0.0)
        prediction = (baseline + deviation).astype(dtype, copy=False)
        if not with_scale:
            return prediction, None
        with np.errstate(invalid="ignore", divide="ignore"):
            variance = np.where(denominator > 0, spread / denominator - deviation**2, 0.0)
        variance = np.maximum(variance, 0.0) + self.noise_var_ / max(int(self.n_neighbors), 1)
        return prediction, np.sqrt(variance).astype(dtype, copy=False)

    def _row_weights(self, posterior: tuple[np.ndarray, np.ndarray]) -> tuple | None:
        if not (self._complete and self.interpolate):
            return None
        return self._Z, posterior[0]

    def _weighted_residuals(
        self,
        weights: np.ndarray,
        columns: slice | np.ndarray,
        with_scale: bool,
        row_products: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Σ_i w_i r_ij and (if asked) Σ_i w_i r_ij² over ``columns``, (n_rows, b) each.

        For complete training rows the residuals r_ij = z_ij - c_j - t_i are never stored: the
        weights (over all rows of the kept matrix, zero outside the fold) multiply its column
        block in place, and the sums are expanded around the baseline.
        """
        if not self._complete:
            W = weights.astype(self._residuals.dtype)
            numerator = W @ self._residuals[:, columns]
            spread = W @ (self._residuals[:, columns] ** 2) if with_scale else None
            return numerator, spread
        Z = self._Z
        full, task = weights, self._task_all
        values = Z[:, columns]
        column = self.column_effect_[columns][None, :]
        total = full.sum(axis=1)[:, None]
        wt = (full @ task)[:, None]
        weighted = full.astype(Z.dtype) @ values if row_products is None else row_products
        numerator = weighted - (total * column).astype(Z.dtype)
        numerator -= wt.astype(Z.dtype)
        if not with_scale:
            return numerator, None
        wtt = (full @ task**2)[:, None]
        squares = (full.astype(Z.dtype) @ (values * values)).astype(np.float64)
        by_task = ((full * task).astype(Z.dtype) @ values).astype(np.float64)
        weighted = weighted.astype(np.float64)
        spread = (
            squares
            - 2 * column * weighted
            - 2 * by_task
            + column**2 * total
            + 2 * column * wt
            + wtt
        )
        return numerator, spread
