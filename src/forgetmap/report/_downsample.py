"""Which tasks and examples a report shows: every one when the matrix is small, a deterministic
sample that keeps the distribution and the extremes when it is large.

A page cannot usefully draw 100 million cells, and the file must stay small (under 20 MB for a
100 × 1,000,000 store), so the heatmaps show at most ``max_cells`` cells. Each shown cell is a real
measured entry (never an average of several), so hovering it can name its task and example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_MAX_CELLS", "MAX_AXIS", "Selection", "select_cells"]

DEFAULT_MAX_CELLS = 250_000
"""Cells drawn by default: about 1 MB of float32 data, fast to draw in any browser."""

MAX_AXIS = 16_384
"""Most tasks or examples drawn on one axis (browsers cap a canvas side near 32,767 pixels)."""

_BLOCK_ROWS = 8  # tasks summed at a time: 8 × 1,000,000 float64 is 64 MB

_EXTREME_SHARE = 0.1
"""Share of an axis's budget kept for its most and least forgotten items (half each)."""


@dataclass(frozen=True)
class Selection:
    """The rows and columns a report shows, as sorted indices into the full matrix.

    Attributes
    ----------
    rows : ndarray of int64, shape (n_shown_tasks,)
    columns : ndarray of int64, shape (n_shown_examples,)
    n_tasks, n_examples : int
        Size of the full matrix.
    row_means : ndarray of float64, shape (n_shown_tasks,)
        Mean forgetting of each shown task over all its measured examples (NaN if none).
    column_means : ndarray of float64, shape (n_shown_examples,)
        Mean forgetting of each shown example over all tasks that measured it (NaN if none).
    """

    rows: np.ndarray
    columns: np.ndarray
    n_tasks: int
    n_examples: int
    row_means: np.ndarray
    column_means: np.ndarray

    @property
    def downsampled(self) -> bool:
        """Whether some tasks or examples are left out of the display."""
        return len(self.rows) < self.n_tasks or len(self.columns) < self.n_examples

    def describe(self) -> str:
        """One sentence for the page saying what is shown and how it was chosen."""
        shown = (
            f"{len(self.rows):,} of {self.n_tasks:,} tasks × "
            f"{len(self.columns):,} of {self.n_examples:,} examples"
        )
        if not self.downsampled:
            return f"Every entry is shown ({shown})."
        return (
            f"Showing {shown}, chosen deterministically so the heatmaps stay readable and the "
            "file small: on each reduced axis, the items are sorted by mean forgetting; the "
            f"{_EXTREME_SHARE / 2:.0%} most and {_EXTREME_SHARE / 2:.0%} least forgotten of the "
            "shown budget are always kept and the rest are taken at evenly spaced ranks, so the "
            "distribution of forgetting is preserved. Every drawn cell is one measured entry "
            "(no averaging). Statistics, fits and tables use the whole matrix."
        )


def select_cells(values: np.ndarray, max_cells: int = DEFAULT_MAX_CELLS) -> Selection:
    """Choose at most ``max_cells`` cells of ``values`` to display.

    Parameters
    ----------
    values : ndarray of shape (n_tasks, n_examples)
        The forgetting matrix; NaN where not measured.
    max_cells : int
        Budget of drawn cells. Tasks are kept whole up to ``isqrt(max_cells)`` of them (a
        matrix usually has far fewer tasks than examples); examples fill the rest. Neither axis
        exceeds :data:`MAX_AXIS`.

    Returns
    -------
    Selection
        The same input always gives the same selection (no randomness is involved).
    """
    if max_cells < 1:
        raise ValueError(f"max_cells must be positive, got {max_cells}")
    n_tasks, n_examples = values.shape
    row_budget = min(n_tasks, MAX_AXIS, max(1, math.isqrt(max_cells)))
    row_means, column_means = _means(values, axis=1), _means(values, axis=0)
    rows = _select_axis(row_means, row_budget)
    column_budget = min(n_examples, MAX_AXIS, max(1, max_cells // max(1, len(rows))))
    columns = _select_axis(column_means, column_budget)
    return Selection(rows, columns, n_tasks, n_examples, row_means[rows], column_means[columns])


def _means(values: np.ndarray, axis: int) -> np.ndarray:
    """Means along ``axis`` (1: per task, 0: per example), NaN where nothing is measured.

    Accumulated in float64, a block of tasks at a time so no full-size temporary is made.
    """
    sums = np.zeros(values.shape[1 - axis])
    counts = np.zeros(values.shape[1 - axis], dtype=np.int64)
    for start in range(0, values.shape[0], _BLOCK_ROWS):
        block = values[start : start + _BLOCK_ROWS]
        finite = np.isfinite(block)
        block_sums = np.where(finite, block, 0).sum(axis=axis, dtype=np.float64)
        if axis == 1:
            sums[start : start + len(block)] = block_sums
            counts[start : start + len(block)] = finite.sum(axis=1)
        else:
            sums += block_sums
            counts += finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _select_axis(means: np.ndarray, budget: int) -> np.ndarray:
    """Indices (sorted) of ``budget`` items: the extremes plus evenly spaced ranks."""
    n = len(means)
    if budget >= n:
        return np.arange(n, dtype=np.int64)
    # Stable sort, most forgotten first; unmeasured items (NaN mean) go last and are rarely shown.
    key = np.where(np.isfinite(means), -means, np.inf)
    order = np.argsort(key, kind="stable")
    n_measured = int(np.isfinite(means).sum()) or n
    ranked = order[:n_measured] if n_measured >= budget else order
    extreme = min(budget // 2, int(budget * _EXTREME_SHARE / 2))
    chosen = [ranked[:extreme], ranked[len(ranked) - extreme :]] if extreme else []
    middle = ranked[extreme : len(ranked) - extreme]
    rest = budget - 2 * extreme
    if rest > 0:
        picks = np.unique(np.round(np.linspace(0, len(middle) - 1, rest)).astype(np.int64))
        chosen.append(middle[picks])
    return np.sort(np.concatenate(chosen)).astype(np.int64)
