"""Low-rank completion whose rank and fold-in ridge are chosen by inner validation.

A fixed ``rank=5, alpha=1`` is right for some matrices and wrong for others: with a dozen
training tasks, five factors folded in from 30 probes mostly fit noise, while a large store
carries more structure than one factor. So the choice is made from the training rows alone,
the way the evaluation itself works: each of up to ``n_rows`` training rows in turn plays a new
task — the candidates are fitted on the other rows, folded in from ``k`` random probes of it
(the same k as at prediction time) and scored by squared error on its other entries. The pair
with the least mean error is then fitted on all training rows.

Only the rank changes the fit; the ridge ``alpha`` is used by the fold-in alone, so each
inner fold fits one model per rank and tries every ridge on it. The inner fits read a seeded
sample of at most ``max_columns`` columns, so the choice costs the same for 200 and for
1,000,000 examples.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from forgetmap.errors import PredictionError
from forgetmap.predict._base import (
    CompletionConvergenceWarning,
    StreamingEstimator,
    check_random_state,
)
from forgetmap.predict._lowrank import LowRank

__all__ = ["TunedLowRank", "select_rank_and_ridge"]


def select_rank_and_ridge(
    Z: np.ndarray,
    rows: np.ndarray,
    *,
    ranks: Sequence[int],
    alphas: Sequence[float],
    k: int,
    n_rows: int,
    n_draws: int,
    max_columns: int,
    rng: np.random.Generator,
) -> tuple[int, float, dict[tuple[int, float], float]]:
    """The (rank, alpha) of least inner-validation error on the training rows ``Z[rows]``.

    Parameters
    ----------
    Z : ndarray of shape (n_tasks, n_examples)
        NaN where unmeasured; only ``rows`` are read, and of them only the sampled columns.
    rows : ndarray of int
        The training rows.
    ranks, alphas : sequences
        The candidates; ranks that the inner fits cannot support (at least two rows more than
        the rank) are left out.

    Returns
    -------
    rank, alpha, errors
        The choice (ties go to the smaller rank, then the larger ridge: the simpler model) and
        the mean squared error of every candidate tried.
    """
    n = Z.shape[1]
    columns = np.sort(rng.choice(n, size=min(n, max_columns), replace=False))
    sub = np.asarray(Z[np.ix_(rows, columns)], dtype=np.float64)  # (m, c)
    m = sub.shape[0]
    usable = sorted({int(r) for r in ranks if 1 <= int(r) <= m - 3})
    if not usable:  # too few rows to validate anything richer than one factor
        return 1, float(max(alphas)), {}
    pseudo = rng.permutation(m)[: min(n_rows, m)]
    sums = {(r, float(a)): 0.0 for r in usable for a in alphas}
    counts = dict.fromkeys(sums, 0)
    # Complete: every inner fold from the sample's Gram matrix (a downdate, as leave-one-out
    # does); with missing entries: a fit per inner fold.
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
        for rank in usable:
            model = _inner_fit(sub, shared, int(j), rank, rng)
            for alpha in alphas:
                model.alpha = float(alpha)
                # all draws at once, over the whole sample (a slice: no copy of the columns)
                predicted, _ = model._expand(model._posterior(draws, values), slice(None), False)
                error = np.where(hidden, predicted - truth, 0.0) ** 2
                sums[rank, float(alpha)] += float((error.sum(axis=1) / hidden.sum(axis=1)).sum())
                counts[rank, float(alpha)] += n_draws
    errors = {key: sums[key] / counts[key] for key in sums if counts[key]}
    if not errors:
        return 1, float(max(alphas)), {}
    best = min(errors, key=lambda key: (errors[key], key[0], -key[1]))
    return best[0], best[1], errors


def _shared_statistics(sub: np.ndarray) -> Any:
    """Leave-one-out statistics of a complete sample, None when it has missing entries."""
    from forgetmap.predict._loo import LeaveOneOut  # _loo builds TunedLowRank folds too

    return LeaveOneOut(sub) if np.isfinite(sub).all() else None


def _inner_fit(
    sub: np.ndarray, shared: Any, held_out: int, rank: int, rng: np.random.Generator
) -> LowRank:
    """A rank-``rank`` model of every row of ``sub`` but ``held_out``."""
    seed = rng.integers(2**32)
    model = LowRank(rank=rank, random_state=seed)
    if shared is not None:
        return shared.fit(model, held_out)
    with warnings.catch_warnings():  # an inner fit is judged by its error, not by ALS
        warnings.simplefilter("ignore", CompletionConvergenceWarning)
        return model.fit(np.delete(sub, held_out, axis=0))


class TunedLowRank(StreamingEstimator):
    """:class:`LowRank` with its rank and ridge chosen by inner validation on the training rows.

    Parameters
    ----------
    ranks : sequence of int, default=(1, 2, 3, 5, 8)
        Candidate numbers of factors.
    alphas : sequence of float, default=(0.1, 1.0, 10.0, 100.0)
        Candidate multipliers of the fold-in ridge.
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
    rank_, alpha_ : int, float
        The choice.
    validation_errors_ : dict of (rank, alpha) -> float
        Mean squared inner-validation error of every candidate tried.
    estimator_ : LowRank
        The chosen model fitted on all training rows; predictions come from it.
    """

    def __init__(
        self,
        ranks: Sequence[int] = (1, 2, 3, 5, 8),
        alphas: Sequence[float] = (0.1, 1.0, 10.0, 100.0),
        k: int = 30,
        n_rows: int = 12,
        n_draws: int = 2,
        max_columns: int = 4096,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.ranks = ranks
        self.alphas = alphas
        self.k = k
        self.n_rows = n_rows
        self.n_draws = n_draws
        self.max_columns = max_columns
        self.random_state = random_state

    def _fit(self, Z: np.ndarray) -> None:
        rng = self._choose(Z, np.arange(Z.shape[0]))
        self.estimator_ = LowRank(
            rank=self.rank_, alpha=self.alpha_, random_state=rng.integers(2**32)
        ).fit(Z)

    def _choose(self, Z: np.ndarray, rows: np.ndarray) -> np.random.Generator:
        """Run the inner validation on ``Z[rows]``; returns the generator, for the final fit."""
        if self.k < 1 or self.n_rows < 1 or self.n_draws < 1 or self.max_columns <= self.k:
            raise PredictionError(
                "TunedLowRank needs k >= 1, n_rows >= 1, n_draws >= 1 and max_columns > k, got "
                f"k={self.k}, n_rows={self.n_rows}, n_draws={self.n_draws}, "
                f"max_columns={self.max_columns}"
            )
        if not self.ranks or not self.alphas:
            raise PredictionError("TunedLowRank needs at least one rank and one alpha")
        rng = check_random_state(self.random_state)
        self.rank_, self.alpha_, self.validation_errors_ = select_rank_and_ridge(
            Z,
            rows,
            ranks=self.ranks,
            alphas=self.alphas,
            k=self.k,
            n_rows=self.n_rows,
            n_draws=self.n_draws,
            max_columns=self.max_columns,
            rng=rng,
        )
        return rng

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
