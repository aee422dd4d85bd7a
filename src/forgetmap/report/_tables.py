"""The page's tables, taken from the documents of the stages that computed them, bounded in size."""

from __future__ import annotations

from typing import Any

import numpy as np

from forgetmap.report._jsonsafe import clip_text, json_safe

__all__ = [
    "LIST_LIMIT",
    "analysis_section",
    "cell",
    "column_values",
    "evaluate_section",
    "overall",
    "task_rows",
]

_SUMMARY_FIELDS = (
    "first_loss",
    "last_loss",
    "loss_drop",
    "steps",
    "tokens",
    "train_seconds",
    "score_seconds",
)
LIST_LIMIT = 500  # items of any list taken from a stage's document (groups, tasks, ...)
_MEMBER_LIMIT = 100  # members of a co-cluster listed on the page (the size is always given)
_SCATTER_LIMIT = 2000  # points per method in the predicted-vs-true scatter


def overall(values: np.ndarray, statistics: Any) -> dict[str, Any]:
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


def column_values(table: Any, name: str, positions: np.ndarray) -> list[str]:
    if name not in table.columns:
        return ["" for _ in positions]
    return [clip_text(value, 200) for value in table[name].to_numpy()[positions]]


def cell(table: Any, name: str, position: int) -> Any:
    return table[name].iat[int(position)] if name in table.columns else None


def analysis_section(document: dict[str, Any], source: str) -> dict[str, Any]:
    """The parts of the ``analyze`` document the page shows, bounded in size."""
    page: dict[str, Any] = {"source": source}
    for key, value in document.items():
        if key in ("coclusters", "components", "most_forgotten", "least_forgotten", "tasks"):
            continue
        if isinstance(value, (list, dict)):
            page[key] = json_safe(value, max_items=LIST_LIMIT)
        elif value is None or isinstance(value, (str, int, float, bool)):
            page[key] = json_safe(value)
    page["coclusters"] = [
        _cocluster(cluster) for cluster in (document.get("coclusters") or [])[:50]
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


def _cocluster(cluster: dict[str, Any]) -> dict[str, Any]:
    """One co-cluster: its numbers, and its first members with their statistics."""
    members = ("tasks", "examples", "task_statistics", "example_statistics")
    entry = json_safe({k: v for k, v in cluster.items() if k not in members}, max_items=LIST_LIMIT)
    for key in members:
        entry[key] = json_safe(list(cluster.get(key) or [])[:_MEMBER_LIMIT])
    for key, listed in (("n_tasks", "tasks"), ("n_examples", "examples")):
        # The document counts every member; it lists at most 200 examples.
        entry[key] = json_safe(cluster.get(key, len(cluster.get(listed) or [])))
    return entry


def task_rows(
    document: dict[str, Any], tasks_table: Any, task_ids: list[str], values: np.ndarray
) -> list[dict[str, Any]]:
    """One row per finished task: its group, mean/std forgetting (from the analysis document,
    else the plain row mean) and the training summary written with its row."""
    from_analysis = {
        str(item.get("id")): item for item in document.get("tasks") or [] if isinstance(item, dict)
    }
    rows = []
    for position, task_id in enumerate(task_ids[: 5 * LIST_LIMIT]):
        stats = from_analysis.get(task_id, {})
        row = {
            "id": task_id,
            "group": clip_text(cell(tasks_table, "group", position), 200),
            "mean": json_safe(stats["mean"] if "mean" in stats else _row_mean(values[position])),
            "std": json_safe(stats.get("std")),
        }
        for key, value in stats.items():
            if key not in row and (value is None or isinstance(value, (int, float))):
                row[key] = json_safe(value)
        for field in _SUMMARY_FIELDS:
            if field in tasks_table.columns:
                row[field] = json_safe(cell(tasks_table, field, position))
        rows.append(row)
    return rows


def _row_mean(row: np.ndarray) -> float | None:
    measured = row[np.isfinite(row)]
    return float(measured.mean(dtype=np.float64)) if measured.size else None


def evaluate_section(document: dict[str, Any]) -> dict[str, Any]:
    scatter = {}
    for name, points in (document.get("scatter") or {}).items():
        if isinstance(points, dict):
            scatter[str(name)] = {
                "true": json_safe(list(points.get("true") or [])[:_SCATTER_LIMIT]),
                "predicted": json_safe(list(points.get("predicted") or [])[:_SCATTER_LIMIT]),
            }
    return {
        "methods": json_safe(document.get("methods") or {}),
        "settings": json_safe(document.get("settings") or {}, max_items=LIST_LIMIT),
        "skipped": json_safe(document.get("skipped") or {}),
        "scatter": scatter,
    }
