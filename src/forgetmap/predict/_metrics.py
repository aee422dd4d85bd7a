"""Metrics of a held-out task's predicted forgetting on its unrevealed entries.

Two routes to the same numbers. :func:`seed_metrics` takes one seed's gathered unrevealed
entries (any row, measured or not). :class:`StreamedMetrics` serves fully measured rows: it
takes every seed's predictions one column block at a time, sums over all columns and subtracts
the probes' share at the end, so a million-entry row is never copied per seed and no
prediction row is ever held whole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "StreamedMetrics",
    "StreamedRow",
    "Truth",
    "rank_order",
    "row_metrics",
    "seed_metrics",
    "top_share",
]


def rank_order(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks (1-based, as ``scipy.stats.rankdata``) and the sorting order, one sort.

    Average ranks do not depend on the order of equal keys, so any sort serves; NaN goes to
    rankdata (which propagates it).
    """
    order = np.argsort(x)
    ordered = x[order]
    ranks = np.empty(x.size, dtype=np.float64)
    if ordered.size < 2:
        ranks[order] = np.arange(1, x.size + 1)
        return ranks, order
    if np.isnan(ordered[-1]):
        from scipy.stats import rankdata

        return rankdata(x), order
    first = np.empty(x.size, dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    if first.all():
        ranks[order] = np.arange(1, x.size + 1)
        return ranks, order
    group = np.cumsum(first) - 1
    starts = np.append(np.flatnonzero(first), x.size)
    ranks[order] = 0.5 * (starts[group] + starts[group + 1] + 1)
    return ranks, order


def top_share(x: np.ndarray, top: int, order: np.ndarray | None = None) -> np.ndarray:
    """Each entry's chance of being among the ``top`` largest when ties are broken at random.

    1 above the cut, 0 below, and (free places / group size) for the group of equal values the
    cut falls in: the top-10% metrics then do not depend on how a sort orders ties, which
    binary (exact-match) forgetting has plenty of.
    """
    if order is None:
        order = np.argsort(x)
    cut = x[order[-top]]
    share = (x > cut).astype(np.float64)
    tied = x == cut
    share[tied] = (top - share.sum()) / np.count_nonzero(tied)
    return share


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denominator = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denominator if denominator > 0 else math.nan


class Truth:
    """What the metrics need from one seed's unrevealed truth, computed once for all methods.

    ``rank_sample`` (indices into ``truth``) restricts the rank-based metrics to a subsample.
    """

    def __init__(self, truth: np.ndarray, threshold: float, rank_sample: np.ndarray | None):
        self.truth = truth
        self.positive = truth > threshold
        self.rank_sample = rank_sample
        sample = truth if rank_sample is None else truth[rank_sample]
        self.sample_positive = self.positive if rank_sample is None else self.positive[rank_sample]
        self.sample_ranks = rank_order(sample)[0]
        self.top = max(1, math.ceil(0.1 * sample.size))
        self.true_top = top_share(sample, self.top) if self.top < sample.size else None


def seed_metrics(
    truth: Truth, predicted: np.ndarray, predicted_threshold: float
) -> dict[str, float]:
    """Sums for the pooled metrics and the per-row metrics of one seed's unrevealed entries."""
    error = predicted - truth.truth
    positive = truth.positive
    flagged = predicted > predicted_threshold
    out = {
        "se": float(error @ error),
        "ae": float(np.abs(error).sum()),
        "n": float(error.size),
        "tp": float((positive & flagged).sum()),
        "fp": float((~positive & flagged).sum()),
        "fn": float((positive & ~flagged).sum()),
        "pearson": _pearson(truth.truth, predicted),
    }
    sample = predicted if truth.rank_sample is None else predicted[truth.rank_sample]
    out.update(rank_metrics(truth, sample))
    return out


def rank_metrics(truth: Truth, sample: np.ndarray) -> dict[str, float]:
    """Spearman, AUC and precision@10% of the predictions on the truth's rank sample.

    precision@10% is the expected share of the predicted top 10% in the true top 10%, ties on
    either side broken at random (:func:`top_share`); the predicted cut comes from the sort
    that gives the ranks.
    """
    out: dict[str, float] = {}
    rank_predicted, order = rank_order(np.asarray(sample, dtype=np.float64))
    out["spearman"] = _pearson(truth.sample_ranks, rank_predicted)
    positive = truth.sample_positive
    n_pos = int(positive.sum())
    n_neg = sample.size - n_pos
    out["auc"] = (
        (float(rank_predicted[positive].sum()) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        if n_pos and n_neg
        else math.nan
    )
    if truth.true_top is not None:
        predicted_top = top_share(np.asarray(sample, dtype=np.float64), truth.top, order)
        out["precision_at_10"] = float(predicted_top @ truth.true_top) / truth.top
    else:
        out["precision_at_10"] = math.nan
    return out


def row_metrics(
    truth: np.ndarray,
    predicted: np.ndarray,
    *,
    threshold: float,
    predicted_threshold: float,
    rank_sample: np.ndarray | None = None,
) -> dict[str, float]:
    """Per-row metrics on unrevealed entries (truth and prediction of shape (n,)).

    Returns sums for the pooled metrics (``se``, ``ae``, ``n``, ``tp``, ``fp``, ``fn``) and the
    per-row ``pearson``, ``spearman``, ``auc`` and ``precision_at_10`` (the share of the
    predicted top 10% that are in the true top 10%); rank-based ones use ``rank_sample``
    (indices into the row) when given.
    """
    return seed_metrics(Truth(truth, threshold, rank_sample), predicted, predicted_threshold)


class StreamedRow:
    """A fully measured test row as every method's :class:`StreamedMetrics` reads it.

    Parameters
    ----------
    truth_row : ndarray of shape (n_examples,)
        The row's truth in the working precision of the predictions.
    probes : ndarray of shape (n_seeds, k)
        Each seed's revealed columns: summed over like every column, then subtracted.
    truths : sequence of Truth
        Each seed's truth on its rank sample (``truths[s].truth`` at ``sample_columns[s]``).
    sample_columns : sequence of sorted int arrays
        The columns of each seed's rank sample.
    block_starts : ndarray of int
        The first column of every block the row will be fed in, in order.
    """

    def __init__(
        self,
        truth_row: np.ndarray,
        probes: np.ndarray,
        truths: Sequence[Truth],
        sample_columns: Sequence[np.ndarray],
        block_starts: np.ndarray,
        *,
        threshold: float,
        predicted_threshold: float,
    ) -> None:
        self.truth_row = truth_row
        self.probes = probes
        self.truths = truths
        self.sample_columns = sample_columns
        self.block_starts = block_starts
        self.predicted_threshold = predicted_threshold
        self.n_seeds = probes.shape[0]
        self.positive = truth_row > threshold
        self.truth_shift = float(truth_row.mean(dtype=np.float64))
        self.centred = truth_row - np.asarray(self.truth_shift, dtype=truth_row.dtype)
        # Where each seed's rank-sample columns fall in every block.
        edges = np.append(block_starts, truth_row.size)
        self.sample_bounds = [np.searchsorted(c, edges) for c in sample_columns]


class StreamedMetrics:
    """:func:`seed_metrics` of every seed of one method on a :class:`StreamedRow`, by blocks.

    Predictions come as (P, b) arrays with P = n_seeds, or P = 1 when all seeds share them;
    interval half-widths as anything broadcasting to that. Sums are taken in the working
    precision within a block and in float64 across blocks; the Pearson sums are shifted by
    the truth row's mean and by each seed's mean prediction on the first block, which keeps
    the one-pass variances accurate.
    """

    def __init__(self, row: StreamedRow) -> None:
        self.row = row
        self.samples = [np.empty(c.size, dtype=row.truth_row.dtype) for c in row.sample_columns]
        self.sums: np.ndarray | None = None  # (8, P): se ae hits flagged tp Σb Σb² Σab
        self.shift: np.ndarray | None = None
        self.with_intervals = False

    def add(self, block: int, prediction: np.ndarray, half: np.ndarray | None) -> None:
        """Take the predictions (and interval half-widths) of block number ``block``."""
        row = self.row
        start = int(row.block_starts[block])
        part = slice(start, start + prediction.shape[1])
        truth = row.truth_row[part]
        if self.sums is None:
            self.sums = np.zeros((8, prediction.shape[0]))
            self.shift = prediction.mean(axis=1, dtype=np.float64)
            self.with_intervals = half is not None
        sums = self.sums
        error = np.subtract(prediction, truth)
        sums[0] += np.einsum("ij,ij->i", error, error)
        np.abs(error, out=error)
        sums[1] += error.sum(axis=1, dtype=np.float64)
        if half is not None:
            sums[2] += np.count_nonzero(np.less_equal(error, half), axis=1)
        flagged = np.greater(prediction, row.predicted_threshold)
        sums[3] += np.count_nonzero(flagged, axis=1)
        flagged &= row.positive[part]
        sums[4] += np.count_nonzero(flagged, axis=1)
        centred = np.subtract(prediction, self.shift.astype(prediction.dtype)[:, None], out=error)
        sums[5] += centred.sum(axis=1, dtype=np.float64)
        sums[6] += np.einsum("ij,ij->i", centred, centred)
        sums[7] += centred @ row.centred[part]
        shared = prediction.shape[0] == 1
        for s, columns in enumerate(row.sample_columns):
            low, high = row.sample_bounds[s][block : block + 2]
            if high > low:
                taken = prediction[0 if shared else s, columns[low:high] - start]
                self.samples[s][low:high] = taken

    def finish(
        self, probe_prediction: np.ndarray, probe_half: np.ndarray | None
    ) -> tuple[list[dict[str, float]], np.ndarray | None]:
        """Per-seed metrics and, with intervals, per-seed (covered, count) of unrevealed entries.

        ``probe_prediction`` (and ``probe_half``) are the predictions (half-widths) at each
        seed's probes, shape (n_seeds, k).
        """
        assert self.sums is not None and self.shift is not None
        row = self.row
        probes, n_seeds = row.probes, row.n_seeds
        truth_row = row.truth_row
        count = truth_row.size - probes.shape[1]
        sums = self.sums if self.sums.shape[1] == n_seeds else np.repeat(self.sums, n_seeds, 1)
        se, ae, hits, flagged, tp, sum_b, sum_bb, sum_ab = sums
        dtype = truth_row.dtype
        probe_prediction = probe_prediction.astype(dtype, copy=False)
        probe_truth = truth_row[probes]
        probe_error = np.abs(probe_prediction - probe_truth).astype(np.float64)
        se = se - (probe_error**2).sum(axis=1)
        ae = ae - probe_error.sum(axis=1)
        probe_flagged = probe_prediction > row.predicted_threshold
        probe_positive = row.positive[probes]
        n_flagged = flagged - np.count_nonzero(probe_flagged, axis=1)
        tp = tp - np.count_nonzero(probe_flagged & probe_positive, axis=1)
        n_positive = np.count_nonzero(row.positive) - np.count_nonzero(probe_positive, axis=1)
        # Pearson from the shifted sums over the unrevealed entries.
        a_row = row.centred.astype(np.float64)
        probe_a = a_row[probes]
        shift = self.shift if self.shift.size == n_seeds else np.repeat(self.shift, n_seeds)
        probe_b = probe_prediction.astype(np.float64) - shift[:, None]
        sum_a = float(a_row.sum()) - probe_a.sum(axis=1)
        sum_aa = float(a_row @ a_row) - (probe_a * probe_a).sum(axis=1)
        sum_b = sum_b - probe_b.sum(axis=1)
        sum_bb = sum_bb - (probe_b * probe_b).sum(axis=1)
        sum_ab = sum_ab - (probe_a * probe_b).sum(axis=1)
        var_a = sum_aa - sum_a * sum_a / count
        var_b = sum_bb - sum_b * sum_b / count
        cov = sum_ab - sum_a * sum_b / count
        covered = None
        if self.with_intervals and probe_half is not None:
            inside = probe_error <= probe_half.astype(dtype, copy=False)
            covered = np.stack(
                [hits - np.count_nonzero(inside, axis=1), np.full(n_seeds, count)], axis=1
            ).astype(np.float64)
        results = []
        for s in range(n_seeds):
            # Below rounding of the sums a variance is zero, as the two-pass formula finds it.
            tiny = 1e-12 * max(float(sum_bb[s]), float(sum_aa[s]), 1e-300)
            denominator = (
                math.sqrt(float(var_a[s]) * float(var_b[s]))
                if var_a[s] > tiny and var_b[s] > tiny
                else 0.0
            )
            out = {
                "se": float(se[s]),
                "ae": float(ae[s]),
                "n": float(count),
                "tp": float(tp[s]),
                "fp": float(n_flagged[s] - tp[s]),
                "fn": float(n_positive[s] - tp[s]),
                "pearson": float(cov[s]) / denominator if denominator > 0 else math.nan,
            }
            out.update(rank_metrics(row.truths[s], self.samples[s]))
            results.append(out)
        return results, covered
