"""The report's data document: everything the page draws, as bounded, strict JSON.

Heavy numbers (fits, groups, co-clusters, evaluation, replay) come from the stages that compute
them (see :mod:`forgetmap.report._sources`); this module only selects the displayed cells, orders
them and packs them for the page.
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from typing import Any

import numpy as np

from forgetmap.errors import ReportError
from forgetmap.report._downsample import DEFAULT_MAX_CELLS, Selection, select_cells
from forgetmap.report._environment import environment, run_config
from forgetmap.report._jsonsafe import clip_text, json_safe
from forgetmap.report._sources import load_analysis, load_evaluate, load_replay
from forgetmap.store import ForgettingStore

__all__ = ["prepare_report"]

_SUMMARY_FIELDS = (
    "first_loss",
    "last_loss",
    "loss_drop",
    "steps",
    "tokens",
    "train_seconds",
    "score_seconds",
)
_LIST_LIMIT = 500  # items of any list taken from a stage's document (groups, tasks, ...)
_MEMBER_LIMIT = 100  # members of a co-cluster listed on the page (the size is always given)
_SCATTER_LIMIT = 2000  # points per method in the predicted-vs-true scatter


def prepare_report(
    store: ForgettingStore,
    *,
    rank: int | None = None,
    metric: str | None = None,
    replay: str | os.PathLike[str] | None = None,
    max_cells: int = DEFAULT_MAX_CELLS,
    seed: int = 0,
) -> dict[str, Any]:
    """Collect and pack everything the report page shows.

    Parameters
    ----------
    store : ForgettingStore
    rank : int, optional
        Rank K of the analysis (default: the stored analysis, else 10 or less).
    metric : str, optional
        Forgetting metric (default: the store's primary one).
    replay : path-like, optional
        A ``replay.json``; default: the store's ``replay`` artifact when present.
    max_cells : int
        Most heatmap cells drawn (see :func:`~forgetmap.report._downsample.select_cells`).
    seed : int
        Seed of the low-rank fits (passed to :mod:`forgetmap.analysis`).

    Returns
    -------
    dict
        JSON-ready; the matrix is packed as base64 little-endian float32 of shape
        (n_shown_tasks, n_shown_examples).
    """
    if max_cells < 1:
        raise ReportError(f"--max-cells must be at least 1, got {max_cells}")
    metric = metric or store.metrics[0]
    if metric not in store.metrics:
        raise ReportError(f"unknown metric {metric!r}; the store has {list(store.metrics)}")
    finished = np.flatnonzero(store.finished_mask())
    if len(finished) == 0:
        raise ReportError(f"store {str(store.path)!r} has no finished rows to report on")
    values = store.forgetting(metric, finished_only=True)  # (M, N), finished rows only
    analysis, analysis_source = load_analysis(store, rank=rank, metric=metric, seed=seed)
    evaluate = load_evaluate(store)
    replay_doc = load_replay(store, replay)

    selection = select_cells(values, max_cells)
    shown = values[np.ix_(selection.rows, selection.columns)].astype("<f4")  # (m, n)
    task_ids = [store.task_ids[i] for i in finished]
    tasks_table = store.tasks().iloc[finished]
    examples_table = store.examples()
    row_groups = _column(tasks_table, "group", selection.rows)
    column_sources = _column(examples_table, "source", selection.columns)
    factors = _factors(values, selection, seed)
    residual = (
        shown - np.outer(factors["rank1_tasks"], factors["rank1_examples"]) if factors else None
    )

    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "store": {
            "path": str(store.path),
            "metric": metric,
            "shape": list(store.shape),
            "finished": len(finished),
            **_overall(values, analysis.get("statistics")),
        },
        "display": {
            "downsampled": selection.downsampled,
            "note": selection.describe(),
            "n_tasks": len(selection.rows),
            "n_examples": len(selection.columns),
        },
        "matrix": {
            "rows": len(selection.rows),
            "columns": len(selection.columns),
            "float32_base64": base64.b64encode(shown.tobytes()).decode("ascii"),
            "scale": _scale(shown),
            "residual_scale": _scale(residual) if residual is not None else None,
        },
        "tasks": [
            {"id": task_ids[i], "group": group}
            for i, group in zip(selection.rows, row_groups, strict=True)
        ],
        "examples": [
            {
                "id": store.example_ids[j],
                "source": source,
                "text": clip_text(_cell(examples_table, "text", j)),
            }
            for j, source in zip(selection.columns, column_sources, strict=True)
        ],
        "orders": _orders(selection, row_groups, column_sources, factors),
        "rank1": (
            {
                "tasks": json_safe(factors["rank1_tasks"]),
                "examples": json_safe(factors["rank1_examples"]),
            }
            if factors
            else None
        ),
        "analysis": _analysis(analysis, analysis_source),
        "task_stats": _task_stats(analysis, tasks_table, task_ids, values),
        "evaluate": _evaluate(evaluate) if evaluate is not None else None,
        "replay": json_safe(replay_doc, max_items=_LIST_LIMIT) if replay_doc is not None else None,
        "run": json_safe(run_config(store)),
        "environment": environment(),
    }


# ---------------------------------------------------------------------- matrix and orderings
def _overall(values: np.ndarray, statistics: Any) -> dict[str, Any]:
    """Measured entries, share forgotten, mean and std: the analysis's numbers when it has them."""
    keys = ("measured", "share_forgotten", "mean", "std")
    if isinstance(statistics, dict) and all(key in statistics for key in keys):
        return {key: json_safe(statistics[key]) for key in keys}
    count = positive = 0
    total = squares = 0.0
    for row in values:  # one task at a time: no full-size float64 copy
        measured = row[np.isfinite(row)].astype(np.float64)
        count += measured.size
        positive += int((measured > 0).sum())
        total += float(measured.sum())
        squares += float((measured**2).sum())
    if not count:
        return {"measured": 0, "share_forgotten": None, "mean": None, "std": None}
    mean = total / count
    return {
        "measured": count,
        "share_forgotten": positive / count,
        "mean": mean,
        "std": float(np.sqrt(max(squares / count - mean**2, 0.0))),
    }


def _scale(values: np.ndarray) -> float:
    """Half-width of the diverging colour scale: the 99th percentile of |value| (robust)."""
    magnitude = np.abs(values[np.isfinite(values)])
    if not magnitude.size:
        return 1.0
    scale = float(np.percentile(magnitude, 99))
    return scale if scale > 0 else float(magnitude.max()) or 1.0


def _factors(values: np.ndarray, selection: Selection, seed: int) -> dict[str, np.ndarray] | None:
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


def _orders(
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


# ---------------------------------------------------------------------- tables
def _column(table: Any, name: str, positions: np.ndarray) -> list[str]:
    if name not in table.columns:
        return ["" for _ in positions]
    return [clip_text(value, 200) for value in table[name].to_numpy()[positions]]


def _cell(table: Any, name: str, position: int) -> Any:
    return table[name].iat[int(position)] if name in table.columns else None


def _analysis(document: dict[str, Any], source: str) -> dict[str, Any]:
    """The parts of the ``analyze`` document the page shows, bounded in size."""
    page: dict[str, Any] = {"source": source}
    for key, value in document.items():
        if key in ("coclusters", "components", "most_forgotten", "least_forgotten", "tasks"):
            continue
        if isinstance(value, (list, dict)):
            page[key] = json_safe(value, max_items=_LIST_LIMIT)
        elif value is None or isinstance(value, (str, int, float, bool)):
            page[key] = json_safe(value)
    page["coclusters"] = [
        {
            **json_safe(
                {k: v for k, v in cluster.items() if k not in ("tasks", "examples")},
                max_items=_LIST_LIMIT,
            ),
            "n_tasks": len(cluster.get("tasks") or []),
            "n_examples": len(cluster.get("examples") or []),
            "tasks": json_safe(list(cluster.get("tasks") or [])[:_MEMBER_LIMIT]),
            "examples": json_safe(list(cluster.get("examples") or [])[:_MEMBER_LIMIT]),
        }
        for cluster in (document.get("coclusters") or [])[:50]
    ]
    page["components"] = [
        {
            "index": component.get("index"),
            "singular_value": json_safe(component.get("singular_value")),
            "tasks": json_safe(list(component.get("tasks") or [])[:20]),
            "examples": json_safe(list(component.get("examples") or [])[:20]),
        }
        for component in (document.get("components") or [])[:10]
    ]
    for key in ("most_forgotten", "least_forgotten"):
        page[key] = [
            {**json_safe(item), "text": clip_text(item.get("text"))}
            for item in (document.get(key) or [])[:50]
        ]
    return page


def _task_stats(
    document: dict[str, Any], tasks_table: Any, task_ids: list[str], values: np.ndarray
) -> list[dict[str, Any]]:
    """One row per finished task: its group, mean/std forgetting (from the analysis document,
    else the plain row mean) and the training summary written with its row."""
    from_analysis = {
        str(item.get("id")): item for item in document.get("tasks") or [] if isinstance(item, dict)
    }
    rows = []
    for position, task_id in enumerate(task_ids[: 5 * _LIST_LIMIT]):
        stats = from_analysis.get(task_id, {})
        row = {
            "id": task_id,
            "group": clip_text(_cell(tasks_table, "group", position), 200),
            "mean": json_safe(stats["mean"] if "mean" in stats else _row_mean(values[position])),
            "std": json_safe(stats.get("std")),
        }
        for key, value in stats.items():
            if key not in row and (value is None or isinstance(value, (int, float))):
                row[key] = json_safe(value)
        for field in _SUMMARY_FIELDS:
            if field in tasks_table.columns:
                row[field] = json_safe(_cell(tasks_table, field, position))
        rows.append(row)
    return rows


def _row_mean(row: np.ndarray) -> float | None:
    measured = row[np.isfinite(row)]
    return float(measured.mean(dtype=np.float64)) if measured.size else None


def _evaluate(document: dict[str, Any]) -> dict[str, Any]:
    scatter = {}
    for name, points in (document.get("scatter") or {}).items():
        if isinstance(points, dict):
            scatter[str(name)] = {
                "true": json_safe(list(points.get("true") or [])[:_SCATTER_LIMIT]),
                "predicted": json_safe(list(points.get("predicted") or [])[:_SCATTER_LIMIT]),
            }
    return {
        "methods": json_safe(document.get("methods") or {}),
        "settings": json_safe(document.get("settings") or {}, max_items=_LIST_LIMIT),
        "skipped": json_safe(document.get("skipped") or {}),
        "scatter": scatter,
    }
