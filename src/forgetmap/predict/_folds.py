"""One fold of the evaluation: fit every method on the training tasks, score the test tasks.

A fold is independent of the others, so the protocol runs folds on a thread pool (the work is
numpy and BLAS, which release the GIL) and merges their results in fold order, which keeps the
numbers identical whatever the number of threads.

A fully measured test row is streamed: each method folds the row's probes into a small state
once per seed and expands it into predictions one column block at a time, feeding
:class:`~forgetmap.predict._metrics.StreamedMetrics`; the methods take turns on each block,
so a block of the matrix read by one is still in cache for the next. A row with unmeasured
entries gathers every seed's unrevealed entries instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forgetmap.predict._base import StreamingEstimator
from forgetmap.predict._metrics import StreamedMetrics, StreamedRow, Truth, seed_metrics
from forgetmap.predict._registry import COMPLETION, make_estimator
from forgetmap.predict.probing import active_probes, random_probes

__all__ = ["FoldResult", "FoldRunner", "draw_probes"]

BLOCK = 16_384
"""Columns per block when a fully measured row's predictions are streamed into the metrics."""


def draw_probes(measured: np.ndarray, k: int, n_seeds: int, *, seed: int, row: int) -> np.ndarray:
    """Random probe columns of one test row for each seed, shape (n_seeds, k).

    Drawn without replacement from the row's measured columns, with an independent generator per
    (seed, row, repetition), so every row and repetition gets a fresh draw.
    """
    return np.stack(
        [
            random_probes(measured, k, np.random.default_rng([seed, row, repetition]))
            for repetition in range(n_seeds)
        ]
    )


def _unrevealed(n: int, probes: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Columns of a fully measured row at ``positions`` in its list of unrevealed columns.

    ``positions`` index ``np.setdiff1d(arange(n), probes)`` without building it: a position p
    maps to p plus the number of probes at or before the column it lands on.
    """
    ordered = np.sort(probes)
    shifted = ordered - np.arange(ordered.size)
    return positions + np.searchsorted(shifted, positions, side="right")


@dataclass
class RowResult:
    """One test row's per-seed metrics, interval hits and scatter points for one method."""

    metrics: list[dict[str, float]]
    covered: np.ndarray | None
    true_points: list[float]
    predicted_points: list[float]


@dataclass
class FoldResult:
    """Every method's results on a fold's test rows (in order) and the seconds spent on it."""

    rows: dict[str, list[RowResult]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class FoldRunner:
    """What every fold needs; :meth:`run` evaluates one (train, test) split."""

    Z: np.ndarray
    measured: np.ndarray
    methods: Sequence[str]
    k: int
    n_seeds: int
    probe: str
    seed: int
    threshold: float
    predicted_threshold: float
    level: float
    max_rank_entries: int
    per_row_points: int
    make_baseline: Callable[[str], Any]
    shared: Any = None  # LeaveOneOut statistics, when the split and the matrix allow it

    def run(self, train: np.ndarray, test: np.ndarray) -> FoldResult:
        result = FoldResult(
            rows={name: [] for name in self.methods},
            seconds=dict.fromkeys(self.methods, 0.0),
        )
        fitted = self._fit(train, test, result.seconds)
        components = self._active_components(train, test) if self.probe == "active" else None
        for row in test:
            columns = np.flatnonzero(self.measured[row])
            if self.probe == "random":
                probes = draw_probes(columns, self.k, self.n_seeds, seed=self.seed, row=int(row))
            else:
                chosen = active_probes(components, self.k, columns)
                probes = np.repeat(chosen[None, :], self.n_seeds, axis=0)
            if columns.size == self.Z.shape[1]:
                rows = self._stream_row(int(row), probes, fitted, result.seconds)
            else:
                rows = self._gather_row(int(row), columns, probes, fitted, result.seconds)
            for name in self.methods:
                result.rows[name].append(rows[name])
        return result

    # ------------------------------------------------------------------ fitting
    def _fit(self, train: np.ndarray, test: np.ndarray, seconds: dict[str, float]) -> dict:
        fitted: dict[str, Any] = {}
        fast = []
        for name in self.methods:
            if name in COMPLETION:
                estimator = make_estimator(name, self.seed, self.k)
                if self.shared is not None and self.shared.supports(estimator):
                    fast.append((name, estimator))
                    continue
            start = time.perf_counter()
            if name in COMPLETION:
                fitted[name] = estimator.fit(self.Z[train])
            else:
                fitted[name] = self.make_baseline(name).fit(self.Z[train], train)
            seconds[name] += time.perf_counter() - start
        if fast:
            start = time.perf_counter()
            self.shared.fit_all([estimator for _, estimator in fast], int(test[0]))
            for name, estimator in fast:
                fitted[name] = estimator
                seconds[name] += (time.perf_counter() - start) / len(fast)
        return fitted

    def _active_components(self, train: np.ndarray, test: np.ndarray) -> np.ndarray:
        from forgetmap.predict._lowrank import LowRank

        factors = LowRank(rank=min(10, self.k), random_state=self.seed)
        if self.shared is not None:
            return self.shared.fit(factors, int(test[0])).components_
        return factors.fit(self.Z[train]).components_

    # ------------------------------------------------------------------ rows
    def _rank_sample(self, row: int, seed: int, n_hidden: int) -> np.ndarray | None:
        """Sorted positions (among the unrevealed entries) the rank-based metrics use."""
        if n_hidden <= self.max_rank_entries:
            return None
        rng = np.random.default_rng([self.seed, row, seed, 1])
        return np.sort(rng.choice(n_hidden, size=self.max_rank_entries, replace=False))

    def _scatter_positions(self, row: int, n_hidden: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, row, 2])
        return rng.choice(n_hidden, size=min(self.per_row_points, n_hidden), replace=False)

    def _stream_row(
        self, row: int, probes: np.ndarray, fitted: dict, seconds: dict[str, float]
    ) -> dict[str, RowResult]:
        Z, n_seeds = self.Z, self.n_seeds
        n = Z.shape[1]
        truth_row = Z[row]
        n_hidden = n - self.k
        sample_columns = []
        for s in range(n_seeds):
            sample = self._rank_sample(row, s, n_hidden)
            positions = np.arange(n_hidden) if sample is None else sample
            sample_columns.append(_unrevealed(n, probes[s], positions))
        truths = [
            Truth(truth_row[c].astype(np.float64), self.threshold, None) for c in sample_columns
        ]
        points = np.sort(_unrevealed(n, probes[0], self._scatter_positions(row, n_hidden)))
        starts = np.arange(0, n, BLOCK)
        streamed_row = StreamedRow(
            truth_row,
            probes,
            truths,
            sample_columns,
            starts,
            threshold=self.threshold,
            predicted_threshold=self.predicted_threshold,
        )
        streams = {}
        shared = []  # (method, weights) of the products of Z's rows read by several methods
        for name in self.methods:
            start = time.perf_counter()
            expand, weights = self._prepare(name, fitted[name], row, probes, truth_row)
            streams[name] = (expand, StreamedMetrics(streamed_row))
            if weights is not None:
                shared.append((name, weights))
            seconds[name] += time.perf_counter() - start
        # One product of the block's rows for every method that reads them.
        stacked = np.vstack([w for _, w in shared]) if shared else None
        offsets = np.cumsum([0] + [len(w) for _, w in shared])
        slots = {name: slice(offsets[i], offsets[i + 1]) for i, (name, _) in enumerate(shared)}
        for block, first in enumerate(starts):
            part = slice(int(first), int(min(first + BLOCK, n)))
            products = None
            if stacked is not None:
                start = time.perf_counter()
                products = stacked @ Z[:, part]
                share = (time.perf_counter() - start) / len(shared)
                for name in slots:
                    seconds[name] += share
            for name, (expand, accumulator) in streams.items():
                start = time.perf_counter()
                rows = products[slots[name]] if name in slots else None
                prediction, half = expand(part, rows)
                accumulator.add(block, prediction, half)
                seconds[name] += time.perf_counter() - start
        out = {}
        for name, (expand, accumulator) in streams.items():
            start = time.perf_counter()
            prediction, half = expand(probes.ravel())
            prediction = _per_seed(prediction, n_seeds, self.k)
            half = None if half is None else _per_seed(half, n_seeds, self.k)
            metrics, covered = accumulator.finish(prediction, half)
            scatter = expand(points)[0][0]  # seed 0 (or the prediction all seeds share)
            out[name] = RowResult(
                metrics,
                covered,
                truth_row[points].astype(np.float64).tolist(),
                scatter.astype(np.float64).tolist(),
            )
            seconds[name] += time.perf_counter() - start
        return out

    def _prepare(
        self, name: str, estimator: Any, row: int, probes: np.ndarray, truth_row: np.ndarray
    ) -> tuple[Callable[..., tuple[np.ndarray, np.ndarray | None]], np.ndarray | None]:
        """A function from columns to (predictions, interval half-widths or None) for a row.

        With it, the weights of the products of the matrix's rows it reads, when it reads
        them from this runner's matrix (the caller then computes them once per block for all
        methods and passes them in), else None.
        """
        dtype = truth_row.dtype
        if isinstance(estimator, StreamingEstimator):
            values = [truth_row[p].astype(np.float64) for p in probes]
            posterior = estimator._posterior(list(probes), values)
            with_scale = estimator.has_intervals
            factor = None
            if with_scale:
                factor = np.asarray(estimator.interval_factor(self.k, self.level)).astype(dtype)

            def expand(columns: Any, row_products: Any = None) -> tuple[np.ndarray, Any]:
                prediction, scale = estimator._expand(posterior, columns, with_scale, row_products)
                prediction = prediction.astype(dtype, copy=False)
                if factor is None or scale is None:
                    return prediction, None
                return prediction, scale.astype(dtype, copy=False) * factor

            source = estimator._row_weights(posterior)
            if source is not None and source[0] is self.Z:
                return expand, source[1].astype(dtype)
            return expand, None
        prediction, half = self._whole_row(name, estimator, row, probes, truth_row)
        prediction = prediction.astype(dtype, copy=False)
        half = None if half is None else half.astype(dtype, copy=False)

        def sliced(columns: Any, row_products: Any = None) -> tuple[np.ndarray, Any]:
            return prediction[:, columns], None if half is None else half[:, columns]

        return sliced, None

    def _whole_row(
        self, name: str, estimator: Any, row: int, probes: np.ndarray, truth_row: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(n_seeds, n) predictions and half-widths of a method that does not stream."""
        if name not in COMPLETION:  # a baseline: no probes, one prediction
            prediction = estimator.predict_tasks(np.array([row]))
            return np.repeat(prediction, self.n_seeds, 0), None
        values = [truth_row[p].astype(np.float64) for p in probes]
        if estimator.has_intervals:
            return estimator._half_widths(list(probes), values, self.level)
        return estimator._fold_in_many(list(probes), values, False)[0], None

    def _gather_row(
        self,
        row: int,
        columns: np.ndarray,
        probes: np.ndarray,
        fitted: dict,
        seconds: dict[str, float],
    ) -> dict[str, RowResult]:
        truth_row = self.Z[row].astype(np.float64)
        hidden = [np.setdiff1d(columns, p) for p in probes]
        truths = [
            Truth(truth_row[h], self.threshold, self._rank_sample(row, s, len(h)))
            for s, h in enumerate(hidden)
        ]
        points = hidden[0][np.sort(self._scatter_positions(row, len(hidden[0])))]
        out = {}
        for name in self.methods:
            start = time.perf_counter()
            prediction, half = self._whole_row(name, fitted[name], row, probes, truth_row)
            metrics = []
            covered = np.zeros((self.n_seeds, 2)) if half is not None else None
            for s, h in enumerate(hidden):
                metrics.append(seed_metrics(truths[s], prediction[s, h], self.predicted_threshold))
                if covered is not None:
                    inside = np.abs(prediction[s, h] - truths[s].truth) <= half[s, h]
                    covered[s] = (inside.sum(), inside.size)
            out[name] = RowResult(
                metrics,
                covered,
                truth_row[points].tolist(),
                np.asarray(prediction[0, points], dtype=np.float64).tolist(),
            )
            seconds[name] += time.perf_counter() - start
        return out


def _per_seed(values: np.ndarray, n_seeds: int, k: int) -> np.ndarray:
    """Each seed's own k entries of an expansion at all seeds' probes, (n_seeds, k).

    ``values`` has shape (P, n_seeds * k) or anything broadcasting to it (P = n_seeds, or 1 when
    all seeds share the prediction).
    """
    rows = max(values.shape[0], 1)
    full = np.broadcast_to(values, (rows, n_seeds * k)).reshape(rows, n_seeds, k)
    if rows == 1:
        return np.ascontiguousarray(full[0])
    return full[np.arange(n_seeds), np.arange(n_seeds)]
