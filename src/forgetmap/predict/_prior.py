"""A forecast before fine-tuning (k = 0): a new task's row from the rows of similar tasks.

With no probe measured, all a predictor can know of a new task is how much its training data
resembles that of the tasks already measured. The prior predicts the new row as a
similarity-weighted mean of the measured rows,

    z_new = sum_i w_i z_i,   w = softmax(s / tau)   (s_i: similarity of the new task to task i),

where ``tau = inf`` gives the column means (the prior that ignores the data) and small ``tau``
copies the nearest task. Which similarity kind and which ``tau`` are chosen by leave-one-task-out
validation on the measured tasks themselves, so the forecast is only as confident in similarity
as similarity has earned on this store. Intervals come from the same validation: each column's
leave-one-out residuals give its spread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from forgetmap.errors import PredictionError

__all__ = ["TEMPERATURES", "SimilarityPrior"]

#: Softmax temperatures tried, in units of cosine similarity; inf is the column means.
TEMPERATURES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, float("inf"))


@dataclass
class SimilarityPrior:
    """Similarity-weighted mean of the measured rows, its kind and temperature validated.

    Attributes (after :meth:`fit`)
    ------------------------------
    kind_, temperature_ : the chosen similarity kind and softmax temperature
    validation_ : {(kind, temperature): leave-one-task-out RMSE}
    """

    temperatures: tuple[float, ...] = TEMPERATURES
    kind_: str = ""
    temperature_: float = float("inf")
    validation_: dict[tuple[str, float], float] = field(default_factory=dict)

    def fit(self, values: np.ndarray, similarities: Mapping[str, np.ndarray]) -> SimilarityPrior:
        """Choose kind and temperature by leave-one-task-out on the measured tasks.

        Parameters
        ----------
        values : ndarray of shape (n_tasks, n_examples)
            The measured forgetting (NaN: not measured).
        similarities : {kind: ndarray of shape (n_tasks, n_tasks)}
            Task-to-task similarity among the measured tasks, per kind.
        """
        Z = np.asarray(values, dtype=np.float64)
        if Z.ndim != 2 or Z.shape[0] < 3:
            raise PredictionError(
                f"a forecast without probes needs at least 3 measured tasks, got {Z.shape[0]}"
            )
        if not similarities:
            raise PredictionError("a forecast without probes needs a task similarity")
        self._values = Z
        best = (np.inf, "", float("inf"))
        residuals = {}
        for kind, matrix in similarities.items():
            S = np.asarray(matrix, dtype=np.float64)
            if S.shape != (Z.shape[0], Z.shape[0]):
                raise PredictionError(
                    f"{kind} task similarity has shape {S.shape}, expected {(Z.shape[0],) * 2}"
                )
            for temperature in self.temperatures:
                predicted = np.stack(
                    [
                        _weighted_rows(np.delete(Z, i, 0), np.delete(S[i], i), temperature)
                        for i in range(Z.shape[0])
                    ]
                )
                error = predicted - Z
                rmse = float(np.sqrt(np.nanmean(error**2)))
                self.validation_[(kind, temperature)] = rmse
                residuals[(kind, temperature)] = error
                if rmse < best[0] - 1e-12:
                    best = (rmse, kind, temperature)
        _, self.kind_, self.temperature_ = best
        # Each column's spread of leave-one-out residuals under the chosen setting.
        self._spread = np.sqrt(np.nanmean(residuals[(self.kind_, self.temperature_)] ** 2, axis=0))
        return self

    def predict(self, similarity: Mapping[str, np.ndarray]) -> np.ndarray:
        """The new task's predicted row, shape (n_examples,).

        Parameters
        ----------
        similarity : {kind: ndarray of shape (n_tasks,)}
            The new task's similarity to each measured task (the chosen kind is read).
        """
        return _weighted_rows(self._values, self._similarity(similarity), self.temperature_)

    def predict_interval(
        self, similarity: Mapping[str, np.ndarray], level: float = 0.9
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Prediction and a normal interval of each column's leave-one-out spread."""
        prediction = self.predict(similarity)
        half = norm.ppf(0.5 + level / 2) * self._spread
        return prediction, prediction - half, prediction + half

    def weights(self, similarity: Mapping[str, np.ndarray]) -> np.ndarray:
        """Each measured task's weight in the prediction, shape (n_tasks,)."""
        return _softmax(self._similarity(similarity), self.temperature_)

    def _similarity(self, similarity: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.kind_ not in similarity:
            raise PredictionError(f"the prior was chosen on {self.kind_} similarity; pass it")
        s = np.asarray(similarity[self.kind_], dtype=np.float64)
        if s.shape != (self._values.shape[0],):
            raise PredictionError(
                f"similarity to {s.shape} tasks given, the prior has {self._values.shape[0]}"
            )
        return s


def _softmax(similarity: np.ndarray, temperature: float) -> np.ndarray:
    s = np.where(np.isfinite(similarity), similarity, -np.inf)
    if not np.isfinite(temperature) or not np.isfinite(s).any():
        return np.full(len(s), 1.0 / len(s))
    logits = (s - s.max()) / temperature
    weights = np.exp(logits)
    return weights / weights.sum()


def _weighted_rows(rows: np.ndarray, similarity: np.ndarray, temperature: float) -> np.ndarray:
    """``sum_i w_i rows_i`` per column over the rows that measured it (weights renormalised)."""
    w = _softmax(similarity, temperature)[:, None] * np.isfinite(rows)  # (n_tasks, n_examples)
    total = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (w * np.nan_to_num(rows)).sum(axis=0) / total, np.nan)
