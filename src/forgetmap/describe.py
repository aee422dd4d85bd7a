"""A summary of a store: its shape, progress, groups and the distribution of forgetting."""

from __future__ import annotations

from typing import Any

import numpy as np

from forgetmap.store import ForgettingStore


def describe(store: ForgettingStore, metric: str | None = None) -> dict[str, Any]:
    """Numbers that ``forgetmap info`` shows, as a JSON-ready dict.

    Keys: ``path``, ``kind``, ``metric``, ``metrics``, ``shape``, ``finished``, ``missing``,
    ``missing_tasks``, ``measured`` (finite entries), ``share_forgotten`` (share of measured
    entries > 0), ``mean``, ``std``, ``groups`` ({group: {tasks, finished, mean}}).
    """
    metric = metric or store.metrics[0]
    values = store.forgetting(metric)  # (M, N), NaN where unmeasured
    finite = np.isfinite(values)
    measured = values[finite].astype(np.float64)
    finished = store.finished_mask()
    groups: dict[str, dict[str, Any]] = {}
    for group, tasks in store.groups().items():
        rows = np.array([store.task_index(task) for task in tasks])
        block = values[rows].astype(np.float64)
        groups[group] = {
            "tasks": len(rows),
            "finished": int(finished[rows].sum()),
            "mean": _nanstat(np.nanmean, block),
        }
    missing = [store.task_ids[i] for i in np.flatnonzero(~finished)]
    return {
        "path": str(store.path),
        "kind": store.kind,
        "metric": metric,
        "metrics": list(store.metrics),
        "shape": list(store.shape),
        "finished": int(finished.sum()),
        "missing": len(missing),
        "missing_tasks": missing,
        "measured": int(finite.sum()),
        "share_forgotten": float((measured > 0).mean()) if measured.size else None,
        "mean": float(measured.mean()) if measured.size else None,
        "std": float(measured.std()) if measured.size else None,
        "groups": groups,
    }


def _nanstat(function: Any, block: np.ndarray) -> float | None:
    return float(function(block)) if np.isfinite(block).any() else None
