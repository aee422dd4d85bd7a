"""Descriptive statistics of forgetting: shares, per-task and per-example spread, extremes.

Also the correlations of an example's mean forgetting with its properties (score before
fine-tuning, length) and of a task's mean forgetting with its training summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forgetmap.analysis._fits import FitReport

#: Most and least forgotten examples listed.
N_EXTREMES = 10
#: Numeric task summary fields correlated with per-task mean forgetting, when present.
TASK_FIELDS = ("loss_drop", "steps", "tokens")


@dataclass
class Spread:
    """Mean, std and measured count per task (rows) and per example (columns), plus totals.

    Means are NaN for a task or example without measured entries.
    """

    task_mean: np.ndarray  # (M,)
    task_std: np.ndarray  # (M,)
    task_n: np.ndarray  # (M,)
    example_mean: np.ndarray  # (N,)
    example_std: np.ndarray  # (N,)
    n_measured: int
    n_forgotten: int  # entries > 0
    mean: float
    std: float


def spread(report: FitReport) -> Spread:
    """Means, population stds (ddof=0) and counts per task and example, from a fit report.

    The sums of squares come from the pass :func:`~forgetmap.analysis._fits.fit_report` makes
    anyway for the row-only and column-only fits, so this reads nothing again.
    """
    stats = report.stats
    with np.errstate(invalid="ignore", divide="ignore"):
        task_std = np.sqrt(report.task_ss / stats.row_n)
        example_std = np.sqrt(report.example_ss / stats.col_n)
    n = int(stats.n)
    return Spread(
        task_mean=stats.row_mean,
        task_std=task_std,
        task_n=stats.row_n,
        example_mean=stats.col_mean,
        example_std=example_std,
        n_measured=n,
        n_forgotten=report.n_forgotten,
        mean=stats.mean,
        std=float(np.sqrt(report.sst / n)),
    )


def correlation(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Pearson and Spearman correlation (with p-values) over the pairs where both are finite."""
    from scipy.stats import pearsonr, spearmanr

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    n = int(keep.sum())
    result: dict[str, Any] = {"n": n, "pearson": None, "pearson_p": None}
    result.update({"spearman": None, "spearman_p": None})
    if n < 3 or np.ptp(x[keep]) == 0 or np.ptp(y[keep]) == 0:
        return result
    pearson = pearsonr(x[keep], y[keep])
    spearman = spearmanr(x[keep], y[keep])
    result.update(
        pearson=float(pearson.statistic),
        pearson_p=float(pearson.pvalue),
        spearman=float(spearman.statistic),
        spearman_p=float(spearman.pvalue),
    )
    return result


def extremes(
    means: np.ndarray,
    example_ids: Sequence[str],
    texts: Sequence[Any] | None,
    *,
    most: bool,
    n: int = N_EXTREMES,
) -> list[dict[str, Any]]:
    """The ``n`` examples with the largest (``most``) or smallest mean forgetting, with text."""
    finite = np.flatnonzero(np.isfinite(means))
    k = min(n, finite.size)
    if k == 0:
        return []
    key = -means[finite] if most else means[finite]
    chosen = finite[np.argpartition(key, k - 1)[:k]]
    chosen = chosen[np.argsort(-means[chosen] if most else means[chosen], kind="stable")]
    return [
        {
            "id": example_ids[j],
            "mean": float(means[j]),
            "text": None if texts is None else _text(texts[j]),
        }
        for j in chosen
    ]


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)


def property_correlations(
    example_mean: np.ndarray,
    task_mean: np.ndarray,
    example_properties: Mapping[str, np.ndarray],
    task_properties: Mapping[str, np.ndarray],
) -> dict[str, dict[str, Any]]:
    """Correlations of per-example mean forgetting with each example property (``example.NAME``)
    and of per-task mean forgetting with each task property (``task.NAME``)."""
    result = {}
    for name, column in example_properties.items():
        result[f"example.{name}"] = correlation(example_mean, column)
    for name, column in task_properties.items():
        result[f"task.{name}"] = correlation(task_mean, column)
    return result
