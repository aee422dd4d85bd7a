"""What every completion estimator shares: input checks, batched fold-in and conformal intervals.

An estimator learns from the training tasks once (``fit``) and then folds in a new task from the
few examples evaluated on it (``predict_row``). Subclasses implement ``_fit`` and the fold-in in
two steps: ``_posterior(cols, values)`` turns each new task's probes into a small state (a task
effect, factor scores, neighbour weights), and ``_expand(posterior, columns)`` turns that state
into predictions and their predictive scale on any set of columns. The split lets the
evaluation stream a million-example row block by block instead of materialising it per seed.
The scale (per entry, the model's own predictive standard deviation up to a constant) is turned
into a calibrated interval here.
"""

from __future__ import annotations

import copy
import functools
import warnings
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np

from forgetmap.core import ConvergenceWarning
from forgetmap.core import check_matrix as check_any_matrix
from forgetmap.errors import PredictionError

if TYPE_CHECKING:
    from forgetmap.predict._loo import TrainingStatistics

__all__ = [
    "CompletionConvergenceWarning",
    "CompletionEstimator",
    "StreamingEstimator",
    "check_matrix",
    "check_random_state",
]


CompletionConvergenceWarning = ConvergenceWarning
"""An iterative fit (alternating least squares, logistic fits) stopped before converging: the
one convergence warning of forgetmap (:class:`forgetmap.core.ConvergenceWarning`, also
``forgetmap.analysis.ConvergenceWarning``)."""


def _calibration_rng(random_state: int | np.random.Generator | None) -> np.random.Generator:
    """The calibration's own generator, from the estimator's seed; a shared generator is copied,
    so calibrating never shifts the draws of whoever else holds it."""
    if isinstance(random_state, np.random.Generator):
        return copy.deepcopy(random_state)
    return check_random_state(random_state)


def check_random_state(random_state: int | np.random.Generator | None) -> np.random.Generator:
    """A generator from an int seed, a generator (used as is) or None (seed 0, for determinism)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(0 if random_state is None else int(random_state))


def check_matrix(values: Any, what: str = "training matrix", min_rows: int = 2) -> np.ndarray:
    """A float 2-D matrix of shape (n_tasks, n_examples) with NaN for unmeasured entries.

    :func:`forgetmap.core.check_matrix` raising :class:`PredictionError`: for other shapes,
    ±inf, fewer than ``min_rows`` rows that hold a measured entry, or no measured entry at all.
    """
    return check_any_matrix(values, error=PredictionError, what=what, min_rows=min_rows)


class CompletionEstimator(ABC):
    """Base class: ``fit(Z_train)`` once, then ``predict_row(cols, values)`` for each new task.

    Subclasses set ``binary_only`` when they model exact-match (0/1) forgetting,
    ``has_intervals`` when ``_fold_in`` returns a meaningful scale, and
    ``fits_from_statistics`` when they implement ``_fit_statistics`` (see
    :meth:`fit_statistics`).
    """

    binary_only = False
    has_intervals = True
    uses_task_index = False
    fits_from_statistics = False

    def get_params(self) -> dict[str, Any]:
        """The keyword arguments the estimator was made with."""
        return {name: getattr(self, name) for name in self._param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @classmethod
    def _param_names(cls) -> list[str]:
        return list(_init_parameters(cls))

    # ------------------------------------------------------------------ fitting
    def fit(self, Z_train: Any) -> CompletionEstimator:
        """Learn from the training tasks.

        Parameters
        ----------
        Z_train : array-like of shape (n_tasks, n_examples)
            Forgetting of the training tasks; NaN marks unmeasured entries.

        Returns
        -------
        self
        """
        Z = check_matrix(Z_train)
        if self.binary_only:
            finite = Z[np.isfinite(Z)]
            if not np.isin(finite, (0.0, 1.0)).all():
                raise PredictionError(
                    f"{type(self).__name__} models binary forgetting; the matrix holds values "
                    "other than 0 and 1"
                )
        self.n_examples_ = Z.shape[1]
        self._fit(Z)
        self._conformal: dict[tuple[int, float], float] = {}
        self._calibration_source: np.ndarray | TrainingStatistics = Z
        return self

    def fit_statistics(self, statistics: TrainingStatistics) -> CompletionEstimator:
        """Learn from shared statistics of the training rows instead of the rows themselves.

        The estimator ends in the state ``fit(statistics.matrix[statistics.rows])`` gives it
        (up to rounding in the matrix's precision), without a pass over an n_examples-sized
        matrix per fit: leave-one-task-out folds (:class:`~forgetmap.predict._loo.LeaveOneOut`)
        downdate the statistics of all tasks instead.

        Parameters
        ----------
        statistics : TrainingStatistics
            Column sums and sums of squares, row sums and the Gram matrix of the training rows
            of a complete matrix.

        Returns
        -------
        self
        """
        if not self.fits_from_statistics:
            raise PredictionError(
                f"{type(self).__name__} fits from the training matrix only; call fit(Z_train)"
            )
        self.n_examples_ = statistics.n_examples
        self._fit_statistics(statistics)
        self._conformal = {}
        self._calibration_source = statistics
        return self

    def _calibration_block(self, columns: np.ndarray) -> np.ndarray:
        """The training rows' entries in ``columns``, shape (n_tasks, len(columns)).

        An estimator fitted from shared statistics reads them from the statistics' matrix (the
        block is cached there: every fold calibrates on the same columns) instead of keeping
        a copy of its training rows.
        """
        source = self._calibration_source
        if isinstance(source, np.ndarray):
            return source[:, columns]
        return source.training_block(columns)

    def _fit_statistics(self, statistics: TrainingStatistics) -> None:
        """Learn the state ending in ``_`` from shared statistics.

        Only called for classes that set ``fits_from_statistics`` (checked by
        :meth:`fit_statistics`), which all override it.
        """
        raise PredictionError(f"{type(self).__name__} has no fit from shared statistics")

    @abstractmethod
    def _fit(self, Z: np.ndarray) -> None:
        """Learn the state ending in ``_`` from a checked (n_tasks, n_examples) matrix."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_examples_"):
            raise PredictionError(f"{type(self).__name__} is not fitted; call fit(Z_train) first")

    def _check_probes(self, cols: Any, values: Any) -> tuple[np.ndarray, np.ndarray]:
        cols = np.asarray(cols)
        values = np.asarray(values, dtype=np.float64)
        if cols.ndim != 1 or values.shape != cols.shape:
            raise PredictionError(
                f"probe columns {cols.shape} and values {values.shape} must be 1-D of equal length"
            )
        if cols.size < 1:
            raise PredictionError("at least one probe (k >= 1) is needed to fold in a task")
        if cols.dtype.kind not in "iu" or cols.min() < 0 or cols.max() >= self.n_examples_:
            raise PredictionError(f"probe columns must be integers in [0, {self.n_examples_})")
        if np.unique(cols).size != cols.size:
            raise PredictionError("probe columns repeat; draw them without replacement")
        if not np.isfinite(values).all():
            raise PredictionError("probe values must be finite (measured entries)")
        return cols.astype(np.intp), values

    # ------------------------------------------------------------------ prediction
    def predict_row(self, cols: Any, values: Any) -> np.ndarray:
        """Predict a new task's forgetting of every example from k observed entries.

        Parameters
        ----------
        cols : array-like of int, shape (k,)
            The probed examples (distinct column indices).
        values : array-like of shape (k,)
            Their measured forgetting.

        Returns
        -------
        ndarray of shape (n_examples,)
            Predictions for every example (probabilities for binary estimators).
        """
        self._check_fitted()
        cols, values = self._check_probes(cols, values)
        return self._fold_in_many([cols], [values], with_scale=False)[0][0]

    def predict_rows(self, cols: Any, values: Any) -> np.ndarray:
        """Batched :meth:`predict_row`: cols and values of shape (n_rows, k) -> (n_rows, N)."""
        cols = np.asarray(cols)
        values = np.asarray(values, dtype=np.float64)
        if cols.ndim != 2 or values.shape != cols.shape:
            raise PredictionError("batched probes need cols and values of shape (n_rows, k)")
        self._check_fitted()
        checked = [self._check_probes(c, v) for c, v in zip(cols, values, strict=True)]
        return self._fold_in_many(
            [c for c, _ in checked], [v for _, v in checked], with_scale=False
        )[0]

    def predict_interval(
        self, cols: Any, values: Any, *, level: float = 0.9
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Prediction and a calibrated predictive interval for every example.

        The estimator's own predictive scale (for the ridge fold-in: the posterior standard
        deviation over the noise level, ``sqrt(1 + leverage)``) is multiplied by a conformal
        factor: the ``level`` quantile of normalised absolute residuals of training tasks folded
        in from the same number of probes by a model fitted without them (cross-fitting over
        training tasks, on a column subsample).

        Returns
        -------
        prediction, lower, upper : ndarray of shape (n_examples,)
        """
        self._check_fitted()
        cols, values = self._check_probes(cols, values)
        prediction, lower, upper = self._intervals([cols], [values], level)
        return prediction[0], lower[0], upper[0]

    def _intervals(
        self, cols: list[np.ndarray], values: list[np.ndarray], level: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        prediction, half = self._half_widths(cols, values, level)
        lower = prediction - half
        return prediction, lower, np.add(prediction, half, out=half)

    def _half_widths(
        self, cols: list[np.ndarray], values: list[np.ndarray], level: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Predictions and the half-widths of their ``level`` intervals, (n_rows, N) each."""
        factor = self.interval_factor(len(cols[0]), level)
        prediction, scale = self._fold_in_many(cols, values, with_scale=True)
        return prediction, np.multiply(scale, factor, out=scale)

    def interval_factor(self, k: int, level: float) -> float:
        """What turns the predictive scale into the half-width of a ``level`` interval."""
        if not self.has_intervals:
            raise PredictionError(f"{type(self).__name__} gives probabilities, not intervals")
        if not 0.0 < level < 1.0:
            raise PredictionError(f"interval level must lie in (0, 1), got {level}")
        return self.conformal_factor(k, level) / self._scale_unit()

    def _scale_unit(self) -> float:
        """The fitted noise level the predictive scale is proportional to (1.0: none).

        Calibration divides it out: the conformal factor is then a quantile of residuals in the
        data's units over a unitless, well-conditioned scale (for the ridge fold-in
        ``sqrt(1 + leverage)``), so a calibration model whose own noise estimate collapses
        (few training rows, rank close to their number) cannot blow the factor up.
        """
        return 1.0

    @abstractmethod
    def _fold_in_many(
        self, cols: list[np.ndarray], values: list[np.ndarray], with_scale: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions (n_rows, n_examples) and, if asked, their predictive scale (same shape)."""

    # ------------------------------------------------------------------ calibration
    def conformal_factor(
        self,
        k: int,
        level: float = 0.9,
        *,
        n_folds: int = 5,
        max_columns: int = 1000,
        max_rows: int = 40,
    ) -> float:
        """The multiplier turning the predictive scale into a ``level`` interval for ``k`` probes.

        In the units of the data over :meth:`_scale_unit` (the interval is
        ``factor × scale / _scale_unit()``): a quantile of absolute residuals normalised by
        the unitless part of the scale.

        Training tasks are split in ``n_folds``; a copy of the estimator is fitted on the others
        (restricted to at most ``max_columns`` random columns, for speed at large N), each of at
        most ``max_rows`` held-out tasks is folded in from ``k`` random probes, and the ``level``
        quantile (with the finite-sample correction of split conformal prediction) of
        |residual| / scale on its unrevealed entries is returned. Cached per (k, level).
        """
        self._check_fitted()
        key = (int(k), float(level))
        if key in self._conformal:
            return self._conformal[key]
        rng = _calibration_rng(getattr(self, "random_state", None))
        n_examples = self.n_examples_
        columns = np.arange(n_examples)
        if n_examples > max_columns:
            columns = np.sort(rng.choice(n_examples, size=max_columns, replace=False))
        sub = self._calibration_block(columns)
        n_tasks = sub.shape[0]
        finite = np.isfinite(sub)
        rows = np.flatnonzero(finite.sum(axis=1) > k)
        scores: list[np.ndarray] = []
        held_out = rng.permutation(rows)[:max_rows]
        folds = np.array_split(held_out, max(min(n_folds, len(held_out)), 1))
        for fold in folds:
            train = np.setdiff1d(np.arange(n_tasks), fold)
            if finite[train].any(axis=1).sum() < 2 or len(fold) == 0:
                continue
            clone = type(self)(**self.get_params())
            if finite[train].all():  # a complete block: no iterative fit, nothing to silence
                clone.fit(sub[train])
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", CompletionConvergenceWarning)
                    clone.fit(sub[train])
            probes = [
                rng.choice(np.flatnonzero(finite[row]), size=k, replace=False) for row in fold
            ]
            values = [
                sub[row, probe].astype(np.float64) for row, probe in zip(fold, probes, strict=True)
            ]
            prediction, scale = clone._fold_in_many(probes, values, with_scale=True)
            hidden = finite[fold]
            for index, probe in enumerate(probes):
                hidden[index, probe] = False
            residual = np.abs(sub[fold][hidden] - prediction[hidden])
            relative = scale[hidden] / clone._scale_unit()
            scores.append(residual / np.maximum(relative, 1e-12))
        if not scores:
            factor = float(_normal_quantile(level))
        else:
            pooled = np.concatenate(scores)
            n = pooled.size
            q = min(1.0, np.ceil((n + 1) * level) / n)
            factor = float(np.quantile(pooled, q))
        self._conformal[key] = factor
        return factor


class StreamingEstimator(CompletionEstimator):
    """An estimator whose fold-in is a small state expanded on any columns.

    ``_posterior(cols, values)`` turns each new row's probes into a small state (a task
    effect, factor scores, neighbour weights); ``_expand(posterior, columns)`` turns it into
    predictions and their scale on any set of columns. The evaluation streams a held-out row
    block by block through ``_expand`` instead of materialising it per seed; the public
    predictions expand over all columns (:meth:`_fold_in_many`).
    """

    @abstractmethod
    def _posterior(self, cols: list[np.ndarray], values: list[np.ndarray]) -> Any:
        """Each new row's fold-in state from its probes."""

    @abstractmethod
    def _expand(
        self,
        posterior: Any,
        columns: slice | np.ndarray,
        with_scale: bool,
        row_products: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions of ``columns`` for the rows of ``posterior`` and, if asked, their scale.

        Shapes broadcast to (n_rows, len(columns)): a prediction shared by all rows may come as
        one row, a scale constant along the columns as one column. Arrays are in the precision
        of the fitted state (float32 when fitted from a float32 matrix's shared statistics).
        ``row_products`` is ``weights @ source[:, columns]`` for the pair :meth:`_row_weights`
        names, computed by the caller (None: computed here).
        """

    def _row_weights(self, posterior: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """(source, weights) when :meth:`_expand` reads ``weights @ source[:, columns]``.

        Several estimators fitted on the same matrix then share one product per column block,
        one read of the block from memory instead of one per estimator.
        """
        return None

    def _fold_in_many(
        self,
        cols: list[np.ndarray],
        values: list[np.ndarray],
        with_scale: bool = True,
        block: int = 65_536,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions (n_rows, n_examples) and, if asked, their predictive scale (same shape).

        Float64, expanded from the posterior in column blocks (bounded temporaries).
        """
        posterior = self._posterior(cols, values)
        n_rows, n = len(cols), self.n_examples_
        prediction = np.empty((n_rows, n))
        scale = np.empty((n_rows, n)) if with_scale else None
        for start in range(0, n, block):
            part = slice(start, min(start + block, n))
            predicted, spread = self._expand(posterior, part, with_scale)
            prediction[:, part] = predicted
            if scale is not None:
                scale[:, part] = spread
        return prediction, scale


@functools.cache
def _init_parameters(cls: type) -> tuple[str, ...]:
    """The keyword arguments of ``cls.__init__`` (cached: every calibration clone asks)."""
    import inspect

    signature = inspect.signature(cls.__init__)
    return tuple(p for p in signature.parameters if p != "self")


def _normal_quantile(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def column_means(Z: np.ndarray) -> tuple[np.ndarray, float]:
    """Column means of a NaN-masked matrix (the grand mean where a column is empty), grand mean."""
    finite = np.isfinite(Z)
    total = np.where(finite, Z, 0.0).sum(axis=0, dtype=np.float64)
    count = finite.sum(axis=0)
    grand = float(total.sum() / max(count.sum(), 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(count > 0, total / np.maximum(count, 1), grand)
    return means, grand
