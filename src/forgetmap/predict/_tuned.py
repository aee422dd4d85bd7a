"""Completion methods whose settings are chosen by inner validation on the training rows.

A fixed ``rank=5, alpha=1`` is right for some matrices and wrong for others: with a dozen
training tasks, five factors folded in from 30 probes mostly fit noise, while a large store
carries more structure than one factor; which of additive, nearest-neighbour and low-rank
completion wins depends on the matrix too. So the choice is made from the training rows alone,
the way the evaluation itself works: each of up to ``n_rows`` training rows in turn plays a new
task — every candidate is fitted on the other rows, folded in from ``k`` random probes of it
(the same k as at prediction time) and scored by squared error on its other entries. The
candidate with the least mean error is then fitted on all training rows.

A candidate is a method and its settings. Settings that only the fold-in reads (ridges,
shrinkage, the number of neighbours) share one fit per inner fold; only the low-rank rank
needs fits of its own. On a complete sample every inner fit is a downdate of shared statistics
(:class:`~forgetmap.predict._loo.LeaveOneOut`), never a refit. The inner fits read a seeded
sample of at most ``max_columns`` columns, so the choice costs the same for 200 and for
1,000,000 examples.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from forgetmap.errors import PredictionError
from forgetmap.predict._additive import Additive
from forgetmap.predict._base import (
    CompletionConvergenceWarning,
    StreamingEstimator,
    check_random_state,
)
from forgetmap.predict._blas import one_blas_thread
from forgetmap.predict._knn import KNN
from forgetmap.predict._loo import LeaveOneOut
from forgetmap.predict._lowrank import LowRank

if TYPE_CHECKING:
    from forgetmap.predict._loo import TrainingStatistics

__all__ = ["Auto", "Candidate", "Tuned", "TunedLowRank", "select_candidate"]


@dataclass(frozen=True)
class Candidate:
    """One method with one setting: ``fit`` settings change the fit, ``fold_in`` ones only the
    fold-in (they are set on a fitted estimator)."""

    method: str  # "additive", "knn" or "lowrank"
    fit: tuple[tuple[str, float], ...] = ()
    fold_in: tuple[tuple[str, float], ...] = ()

    def settings(self) -> dict[str, float]:
        """Every setting, as keyword arguments of the method's estimator."""
        return dict(self.fit + self.fold_in)

    def build(self, seed: int) -> StreamingEstimator:
        """A fresh, unfitted estimator with this candidate's settings."""
        settings = self.settings()
        if self.method == "lowrank":
            return LowRank(random_state=seed, **settings)
        return _BUILDERS[self.method](**settings)

    def label(self) -> str:
        """E.g. ``lowrank(rank=2, alpha=10)``."""
        inner = ", ".join(f"{name}={value:g}" for name, value in self.fit + self.fold_in)
        return f"{self.method}({inner})"


_BUILDERS: dict[str, Callable[..., StreamingEstimator]] = {"additive": Additive, "knn": KNN}


def grid(
    method: str, fit: Mapping[str, Sequence[float]], fold_in: Mapping[str, Sequence[float]]
) -> list[Candidate]:
    """Every combination of the given values, as candidates (fit settings vary slowest)."""

    def combos(axes: Mapping[str, Sequence[float]]) -> list[tuple[tuple[str, float], ...]]:
        out: list[tuple[tuple[str, float], ...]] = [()]
        for name, values in axes.items():
            out = [(*c, (name, v)) for c in out for v in values]
        return out

    return [Candidate(method, f, d) for f in combos(fit) for d in combos(fold_in)]


LOWRANK_RANKS = (1, 2, 3, 5, 8)
LOWRANK_ALPHAS = (100.0, 10.0, 1.0, 0.1)  # strongest ridge first: ties go to the simpler fit
AUTO_CANDIDATES: tuple[Candidate, ...] = (
    *grid("additive", {}, {"alpha": (10.0, 1.0, 0.1)}),
    *grid("knn", {}, {"n_neighbors": (5, 10, 20), "ridge": (0.1, 1.0, 10.0)}),
    *grid("lowrank", {"rank": LOWRANK_RANKS}, {"alpha": LOWRANK_ALPHAS}),
)
"""What ``auto`` chooses from: additive shrinkage; knn neighbours and ridge; low-rank rank and
fold-in ridge."""


@one_blas_thread
def select_candidate(
    Z: np.ndarray,
    rows: np.ndarray,
    candidates: Sequence[Candidate],
    *,
    k: int,
    n_rows: int,
    n_draws: int,
    max_columns: int,
    rng: np.random.Generator,
) -> tuple[Candidate, dict[Candidate, float]]:
    """The candidate of least inner-validation error on the training rows ``Z[rows]``.

    Parameters
    ----------
    Z : ndarray of shape (n_tasks, n_examples)
        NaN where unmeasured; only ``rows`` are read, and of them only the sampled columns.
    rows : ndarray of int
        The training rows.
    candidates : sequence of Candidate
        In order of preference: ties go to the earlier (simpler) one. Low-rank candidates whose
        rank the inner fits cannot support (at least three rows more than the rank) are left
        out.

    Returns
    -------
    choice, errors
        The choice and the mean squared error of every candidate tried. With too few rows to
        validate anything, the first candidate and no errors.
    """
    n = Z.shape[1]
    columns = np.sort(rng.choice(n, size=min(n, max_columns), replace=False))
    sub = np.asarray(Z[np.ix_(rows, columns)], dtype=np.float64)  # (m, c)
    m = sub.shape[0]
    usable = [c for c in candidates if c.method != "lowrank" or 1 <= c.settings()["rank"] <= m - 3]
    if not usable or m < 3:
        return candidates[0], {}
    fits: dict[tuple[str, tuple], list[Candidate]] = {}
    for candidate in usable:
        fits.setdefault((candidate.method, candidate.fit), []).append(candidate)
    pseudo = rng.permutation(m)[: min(n_rows, m)]
    sums = dict.fromkeys(usable, 0.0)
    counts = dict.fromkeys(usable, 0)
    # Complete: every inner fold from the sample's Gram matrix and sums (a downdate, as
    # leave-one-out does); with missing entries: a fit per inner fold.
    shared = _shared_statistics(sub)
    for j in pseudo:
        measured = np.flatnonzero(np.isfinite(sub[j]))
        if measured.size <= k:
            continue  # the row cannot both be probed k times and be scored
        draws = [np.sort(rng.choice(measured, size=k, replace=False)) for _ in range(n_draws)]
        hidden = np.zeros((n_draws, sub.shape[1]), dtype=bool)  # (D, c): scored entries
        hidden[:, measured] = True
        for d, probes in enumerate(draws):
            hidden[d, probes] = False
        values = [sub[j, probes] for probes in draws]
        truth = np.where(hidden, sub[j][None, :], 0.0)
        fold = shared.fold(int(j)) if shared is not None else None
        for group in fits.values():
            model = _inner_fit(sub, fold, int(j), group[0], rng)
            for candidate in group:
                for name, value in candidate.fold_in:
                    setattr(model, name, value)
                # all draws at once, over the whole sample (a slice: no copy of the columns)
                predicted, _ = model._expand(model._posterior(draws, values), slice(None), False)
                error = np.where(hidden, predicted - truth, 0.0) ** 2
                sums[candidate] += float((error.sum(axis=1) / hidden.sum(axis=1)).sum())
                counts[candidate] += n_draws
    errors = {c: sums[c] / counts[c] for c in usable if counts[c]}
    if not errors:
        return candidates[0], {}
    order = {c: i for i, c in enumerate(candidates)}
    best = min(errors, key=lambda c: (errors[c], order[c]))
    return best, errors


def _shared_statistics(sub: np.ndarray) -> LeaveOneOut | None:
    """Leave-one-out statistics of a complete sample, None when it has missing entries."""
    return LeaveOneOut(sub) if np.isfinite(sub).all() else None


def _inner_fit(
    sub: np.ndarray,
    fold: TrainingStatistics | None,
    held_out: int,
    candidate: Candidate,
    rng: np.random.Generator,
) -> StreamingEstimator:
    """``candidate``'s model of every row of ``sub`` but ``held_out`` (from the fold's
    statistics when the sample is complete)."""
    model = candidate.build(int(rng.integers(2**32)))
    if fold is not None:
        model.fit_statistics(fold)
        return model
    with warnings.catch_warnings():  # an inner fit is judged by its error, not by ALS
        warnings.simplefilter("ignore", CompletionConvergenceWarning)
        return model.fit(np.delete(sub, held_out, axis=0))


class Tuned(StreamingEstimator):
    """The best of several candidates, chosen by inner validation on the training rows.

    Parameters
    ----------
    candidates : sequence of Candidate, default: every candidate of ``auto``
        In order of preference (ties go to the earlier).
    k : int, default=30
        Probes per pseudo-new task: the k the estimator will be asked to fold in from.
    n_rows : int, default=12
        Training rows used as pseudo-new tasks (a seeded sample when there are more).
    n_draws : int, default=2
        Probe draws per pseudo-new task.
    max_columns : int, default=4096
        Columns the inner fits read (a seeded sample when there are more).
    random_state : int, Generator or None
        Seeds the samples of columns, rows and probes.

    Attributes
    ----------
    choice_ : Candidate
        The chosen method and settings.
    validation_errors_ : dict of Candidate -> float
        Mean squared inner-validation error of every candidate tried.
    estimator_ : StreamingEstimator
        The chosen model fitted on all training rows; predictions come from it.
    """

    fits_from_statistics = True  # every candidate method does

    def __init__(
        self,
        candidates: Sequence[Candidate] = AUTO_CANDIDATES,
        k: int = 30,
        n_rows: int = 12,
        n_draws: int = 2,
        max_columns: int = 4096,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.candidates = candidates
        self.k = k
        self.n_rows = n_rows
        self.n_draws = n_draws
        self.max_columns = max_columns
        self.random_state = random_state

    def _candidates(self) -> Sequence[Candidate]:
        return self.candidates

    def _fit(self, Z: np.ndarray) -> None:
        chosen = self.choose(Z, np.arange(Z.shape[0]))
        self.estimator_ = chosen.fit(Z)

    def _fit_statistics(self, statistics: TrainingStatistics) -> None:
        # the inner validation reads a column sample of the training rows, as fit does; the
        # chosen estimator is then fitted from the same statistics
        chosen = self.choose(statistics.matrix, statistics.rows)
        self.estimator_ = chosen.fit_statistics(statistics)

    def choose(self, Z: np.ndarray, rows: np.ndarray) -> StreamingEstimator:
        """Run the inner validation on ``Z[rows]``; returns the chosen, unfitted estimator."""
        if self.k < 1 or self.n_rows < 1 or self.n_draws < 1 or self.max_columns <= self.k:
            raise PredictionError(
                f"{type(self).__name__} needs k >= 1, n_rows >= 1, n_draws >= 1 and "
                f"max_columns > k, got k={self.k}, n_rows={self.n_rows}, "
                f"n_draws={self.n_draws}, max_columns={self.max_columns}"
            )
        candidates = list(self._candidates())
        if not candidates:
            raise PredictionError(f"{type(self).__name__} needs at least one candidate")
        rng = check_random_state(self.random_state)
        self.choice_, self.validation_errors_ = select_candidate(
            Z,
            rows,
            candidates,
            k=self.k,
            n_rows=self.n_rows,
            n_draws=self.n_draws,
            max_columns=self.max_columns,
            rng=rng,
        )
        return self.choice_.build(int(rng.integers(2**32)))

    # Predictions, scales and intervals are the chosen model's.
    def _posterior(self, cols: list[np.ndarray], values: list[np.ndarray]) -> Any:
        return self.estimator_._posterior(cols, values)

    def _expand(
        self,
        posterior: Any,
        columns: slice | np.ndarray,
        with_scale: bool,
        row_products: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        return self.estimator_._expand(posterior, columns, with_scale, row_products)

    def _row_weights(self, posterior: Any) -> tuple[np.ndarray, np.ndarray] | None:
        return self.estimator_._row_weights(posterior)

    def interval_factor(self, k: int, level: float) -> float:
        return self.estimator_.interval_factor(k, level)

    def _half_widths(
        self, cols: list[np.ndarray], values: list[np.ndarray], level: float
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.estimator_._half_widths(cols, values, level)


class Auto(Tuned):
    """``auto``: additive, knn or low-rank completion, with its settings, whichever validates
    best on the training rows (see :data:`AUTO_CANDIDATES`)."""

    def __init__(
        self,
        k: int = 30,
        n_rows: int = 12,
        n_draws: int = 2,
        max_columns: int = 4096,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(AUTO_CANDIDATES, k, n_rows, n_draws, max_columns, random_state)

    @classmethod
    def _param_names(cls) -> list[str]:
        return ["k", "n_rows", "n_draws", "max_columns", "random_state"]


class TunedLowRank(Tuned):
    """:class:`LowRank` with its rank and fold-in ridge chosen by inner validation.

    Parameters
    ----------
    ranks : sequence of int, default=(1, 2, 3, 5, 8)
        Candidate numbers of factors.
    alphas : sequence of float, default=(100, 10, 1, 0.1)
        Candidate multipliers of the fold-in ridge.
    k, n_rows, n_draws, max_columns, random_state
        As :class:`Tuned`.

    Attributes
    ----------
    rank_, alpha_ : int, float
        The choice (also ``choice_``).
    """

    def __init__(
        self,
        ranks: Sequence[int] = LOWRANK_RANKS,
        alphas: Sequence[float] = LOWRANK_ALPHAS,
        k: int = 30,
        n_rows: int = 12,
        n_draws: int = 2,
        max_columns: int = 4096,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.ranks = ranks
        self.alphas = alphas
        super().__init__((), k, n_rows, n_draws, max_columns, random_state)

    @classmethod
    def _param_names(cls) -> list[str]:
        return ["ranks", "alphas", "k", "n_rows", "n_draws", "max_columns", "random_state"]

    def _candidates(self) -> Sequence[Candidate]:
        if not self.ranks or not self.alphas:
            return []
        ranks = sorted({int(r) for r in self.ranks})
        alphas = sorted({float(a) for a in self.alphas}, reverse=True)
        return grid("lowrank", {"rank": ranks}, {"alpha": alphas})

    def choose(self, Z: np.ndarray, rows: np.ndarray) -> StreamingEstimator:
        chosen = super().choose(Z, rows)
        settings = self.choice_.settings()
        self.rank_, self.alpha_ = int(settings["rank"]), float(settings["alpha"])
        return chosen
