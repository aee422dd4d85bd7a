"""The drawn matrix: its colour scales, the rank-1 fit beside it and the orderings of its axes.

The fits come from :func:`forgetmap.analysis.low_rank_fit`; nothing is refitted here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forgetmap.report._downsample import Selection

__all__ = ["colour_scale", "leading_components", "orderings"]


def colour_scale(values: np.ndarray) -> float:
    """Half-width of the diverging colour scale: the 99th percentile of |value| (robust)."""
    magnitude = np.abs(values[np.isfinite(values)])
    if not magnitude.size:
        return 1.0
    scale = float(np.percentile(magnitude, 99))
    return scale if scale > 0 else float(magnitude.max()) or 1.0


def leading_components(
    values: np.ndarray, selection: Selection, seed: int
) -> dict[str, np.ndarray] | None:
    """Leading components of the whole matrix from :func:`forgetmap.analysis.low_rank_fit`.

    Returns the rank-1 fit as task part (shown rows, scaled by the singular value) and example
    part (shown columns), so the page can draw ``task_i × example_j`` and the residual, plus the
    loadings on components 1 and 2 used to order rows and columns. ``None`` when the matrix is
    too small for a fit (one task or one example).
    """
    from forgetmap.analysis import low_rank_fit

    # Tasks or examples with no measured entry carry no information; the fit sees the others.
    finite = np.isfinite(values)
    usable_rows, usable_columns = finite.any(axis=1), finite.any(axis=0)
    if min(int(usable_rows.sum()), int(usable_columns.sum())) < 2:
        return None
    full = usable_rows.all() and usable_columns.all()
    fit_values = values if full else values[np.ix_(usable_rows, usable_columns)]
    row_index = np.cumsum(usable_rows) - 1
    column_index = np.cumsum(usable_columns) - 1

    def part(
        factors: np.ndarray,
        usable: np.ndarray,
        index: np.ndarray,
        shown: np.ndarray,
        component: int,
    ) -> np.ndarray:
        """Loadings of the shown items on one component; NaN for items left out of the fit."""
        result = np.full(len(shown), np.nan)
        known = usable[shown]
        result[known] = np.asarray(factors, dtype=np.float64)[index[shown[known]], component]
        return result

    def task_part(fit: Any, component: int) -> np.ndarray:
        return part(fit.task_factors, usable_rows, row_index, selection.rows, component)

    def example_part(fit: Any, component: int) -> np.ndarray:
        return part(fit.example_factors, usable_columns, column_index, selection.columns, component)

    # Components have no sign of their own; low_rank_fit orients each so task loadings sum >= 0.
    # On a complete matrix the fit is a truncated SVD, whose first component is the rank-1 fit:
    # one pass over the matrix gives both. Masked fits differ by rank, so each is fitted.
    two_components = min(fit_values.shape) >= 3
    complete = bool(finite.all()) or bool(np.isfinite(fit_values).all())
    if complete and two_components:
        one = two = low_rank_fit(fit_values, 2, seed=seed)
    else:
        one = low_rank_fit(fit_values, 1, seed=seed)
        two = low_rank_fit(fit_values, 2, seed=seed) if two_components else None
    s_1 = float(np.asarray(one.singular_values, dtype=np.float64)[0])
    factors = {
        "rank1_tasks": s_1 * task_part(one, 0),
        "rank1_examples": example_part(one, 0),
        "svd1_tasks": task_part(one, 0),
        "svd1_examples": example_part(one, 0),
    }
    if two is not None:
        factors["svd2_tasks"] = task_part(two, 1)
        factors["svd2_examples"] = example_part(two, 1)
    return factors


def orderings(
    selection: Selection,
    row_groups: list[str],
    column_sources: list[str],
    factors: dict[str, np.ndarray] | None,
) -> dict[str, Any]:
    """Permutations of the shown rows and columns for each ordering the page offers.

    Means are over the whole matrix, not only the shown cells.
    """
    row_means, column_means = selection.row_means, selection.column_means
    rows = {
        "original": list(range(len(row_means))),
        "mean": _descending(row_means),
        "group": _grouped(row_groups, row_means),
    }
    columns = {
        "original": list(range(len(column_means))),
        "mean": _descending(column_means),
        "group": _grouped(column_sources, column_means),
    }
    if factors:
        for name in ("svd1", "svd2"):
            if f"{name}_tasks" in factors:
                rows[name] = _descending(factors[f"{name}_tasks"])
                columns[name] = _descending(factors[f"{name}_examples"])
    return {"rows": rows, "columns": columns}


def _descending(key: np.ndarray) -> list[int]:
    """Positions sorted by ``key``, largest first, NaN last; ties keep their order."""
    key = np.asarray(key, dtype=np.float64)
    return np.argsort(np.where(np.isfinite(key), -key, np.inf), kind="stable").tolist()


def _grouped(labels: list[str], means: np.ndarray) -> list[int]:
    """Positions grouped by label (groups in order of first appearance), most forgotten first."""
    first: dict[str, int] = {}
    for label in labels:
        first.setdefault(label, len(first))
    group_rank = np.array([first[label] for label in labels], dtype=np.int64)
    key = np.where(np.isfinite(means), -np.asarray(means, dtype=np.float64), np.inf)
    return np.lexsort((key, group_rank)).tolist()
