"""The store side of a forecast: a fitted estimator and the k probes, before any model runs.

``forgetmap forecast`` scores the probes with a saved checkpoint; the trainer integration scores
them with the model a ``transformers.Trainer`` is training. Both hand the scores to the same
:class:`Forecaster`, so the probes, the measured forgetting and the predictions are computed one
way only.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from forgetmap.errors import PredictionError, StoreError

if TYPE_CHECKING:
    from forgetmap.store import ForgettingStore

__all__ = ["DEFAULT_METHOD", "METRIC", "PROBES", "Forecaster", "choose_probes"]

PROBES = ("active", "random")
METRIC = "nll"
DEFAULT_METHOD = "auto"  # the method and its settings chosen from the store itself
"""The completion estimator a forecast uses unless told otherwise."""


def choose_probes(values: np.ndarray, k: int, probe: str, *, seed: int = 0) -> np.ndarray:
    """Which k upstream examples to score, from the training rows alone.

    Parameters
    ----------
    values : ndarray of shape (n_tasks, n_examples)
        Forgetting of the measured tasks (NaN: unmeasured).
    k : int
        Number of probes, ``1 <= k < n_examples``.
    probe : {"active", "random"}
        ``active``: greedy D-optimal design on the leading factors of the training rows (as
        ``forgetmap evaluate --probe active``); ``random``: uniform without replacement.
    seed : int

    Returns
    -------
    ndarray of int, shape (k,)
        Sorted column indices.
    """
    from forgetmap.predict import (
        CompletionConvergenceWarning,
        LowRank,
        active_probes,
        random_probes,
    )

    n_examples = values.shape[1]
    columns = np.arange(n_examples)
    if probe == "random":
        return random_probes(columns, k, np.random.default_rng(seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompletionConvergenceWarning)
        components = LowRank(rank=min(10, k), random_state=seed).fit(values).components_
    return active_probes(components, k, columns, rng=np.random.default_rng(seed))


class Forecaster:
    """Predicts a new row of a store from the measured forgetting of k probes.

    Parameters
    ----------
    store : ForgettingStore
        A collected store with before-scores and at least 2 finished rows (metric ``nll``).
    k : int
        Probes, ``1 <= k < n_examples``.
    probe : {"active", "random"}
        How they are chosen (:func:`choose_probes`).
    method : str
        A completion estimator of :mod:`forgetmap.predict` for continuous forgetting.
    seed : int
        Seeds the probe choice and the estimator.
    level : float
        Nominal coverage of the predictive intervals.

    Every argument is checked when the forecaster is made, before anything is fitted or loaded.
    :meth:`fit` fits the estimator and sets ``probes_``.
    """

    def __init__(
        self,
        store: ForgettingStore,
        *,
        k: int = 30,
        probe: str = "active",
        method: str = DEFAULT_METHOD,
        seed: int = 0,
        level: float = 0.9,
    ) -> None:
        self.store = store
        self.k = k
        self.probe = probe
        self.method = method
        self.seed = seed
        self.level = level
        self._estimator = _estimator(method, seed, k)
        self.values = _training_rows(store)  # (n_tasks, n_examples)
        n_examples = store.shape[1]
        if probe not in PROBES:
            raise PredictionError(f"unknown probe strategy {probe!r}; use {' or '.join(PROBES)}")
        if not 1 <= k < n_examples:
            raise PredictionError(
                f"k must be at least 1 and below the number of upstream examples "
                f"({n_examples}), got {k}"
            )
        if not 0.0 < level < 1.0:
            raise PredictionError(f"interval level must lie in (0, 1), got {level}")

    def fit(self) -> Forecaster:
        """Fit the estimator on the store's rows and choose the probes; returns ``self``."""
        from forgetmap.predict import CompletionConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CompletionConvergenceWarning)
            self._estimator.fit(self.values)
        self.probes_ = choose_probes(self.values, self.k, self.probe, seed=self.seed)
        return self

    def measured(self, after: np.ndarray, before: np.ndarray | None = None) -> np.ndarray:
        """Forgetting of the probes, ndarray of shape (k,): ``after - before``.

        Parameters
        ----------
        after : ndarray of shape (k,)
            The probes' mean NLL under the fine-tuned model, in the order of ``probes_``.
        before : ndarray of shape (k,), optional
            Their NLL before fine-tuning; default: the store's before-scores.
        """
        if before is None:
            before = self.store.before(METRIC)[self.probes_]
        measured = np.asarray(after, dtype=np.float64) - np.asarray(before, dtype=np.float64)
        if not np.isfinite(measured).all():
            raise StoreError(
                f"store {str(self.store.path)!r} has no before-score for some probed examples; "
                "finish the collection first"
            )
        return measured

    def predict(self, measured: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Prediction and interval for every upstream example, three ndarrays of (n_examples,).

        The interval bounds are NaN for an estimator without intervals.
        """
        estimator = self._estimator
        if estimator.has_intervals:
            return estimator.predict_interval(self.probes_, measured, level=self.level)
        predicted = estimator.predict_row(self.probes_, measured)
        nan = np.full(self.store.shape[1], np.nan)
        return predicted, nan, nan.copy()

    def ranking(self, measured: np.ndarray, actual: np.ndarray | None = None) -> Any:
        """The ranking table (:func:`~forgetmap.forecast.build_ranking`) of the new row."""
        from forgetmap.forecast._ranking import build_ranking

        predicted, low, high = self.predict(measured)
        if actual is None:
            actual = np.full(self.store.shape[1], np.nan)
        return build_ranking(self.store, self.probes_, measured, predicted, low, high, actual)


def _estimator(method: str, seed: int, k: int) -> Any:
    from forgetmap.predict import make_estimator

    estimator = make_estimator(method, seed, k)
    if estimator.binary_only:
        raise PredictionError(
            f"method {method!r} models exact-match (0/1) forgetting; forecast predicts NLL "
            "forgetting: use lowrank, multiplicative, additive, knn or mean"
        )
    return estimator


def _training_rows(store: ForgettingStore) -> np.ndarray:
    if store.kind != "collected" or not store.has_scores or METRIC not in store.metrics:
        raise StoreError(
            f"store {str(store.path)!r} is not a collected run with NLL scores; forecast needs "
            "a store made by `forgetmap collect`"
        )
    if not store.has_before():
        raise StoreError(f"store {str(store.path)!r} has no before-scores yet; run collect")
    values = store.forgetting(METRIC, finished_only=True).astype(np.float64)
    if values.shape[0] < 2:
        raise PredictionError(
            f"store {str(store.path)!r} has {values.shape[0]} finished task row(s); at least 2 "
            "training rows are needed to forecast"
        )
    return values
