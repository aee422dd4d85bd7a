"""The report's data document: everything the page draws, as bounded, strict JSON.

Heavy numbers (fits, groups, co-clusters, evaluation, replay) come from the stages that compute
them (:mod:`~forgetmap.report._sources`); this module reads the matrix, picks the drawn cells
(:mod:`~forgetmap.report._downsample`) and assembles the document from
:mod:`~forgetmap.report._matrix` and :mod:`~forgetmap.report._tables`.
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from typing import Any

import numpy as np

from forgetmap.errors import ReportError
from forgetmap.report._downsample import DEFAULT_MAX_CELLS, select_cells
from forgetmap.report._environment import environment, run_config
from forgetmap.report._jsonsafe import clip_text, json_safe
from forgetmap.report._matrix import colour_scale, leading_components, orderings
from forgetmap.report._sources import load_analysis, load_evaluate, load_replay
from forgetmap.report._tables import (
    LIST_LIMIT,
    analysis_section,
    cell,
    column_values,
    evaluate_section,
    overall,
    task_rows,
)
from forgetmap.store import ForgettingStore

__all__ = ["prepare_report"]


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
        raise ReportError(f"max_cells must be at least 1, got {max_cells}")
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
    row_groups = column_values(tasks_table, "group", selection.rows)
    column_sources = column_values(examples_table, "source", selection.columns)
    factors = leading_components(values, selection, seed)
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
            **overall(values, analysis.get("statistics")),
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
            "scale": colour_scale(shown),
            "residual_scale": colour_scale(residual) if residual is not None else None,
        },
        "tasks": [
            {"id": task_ids[i], "group": group}
            for i, group in zip(selection.rows, row_groups, strict=True)
        ],
        "examples": [
            {
                "id": store.example_ids[j],
                "source": source,
                "text": clip_text(cell(examples_table, "text", j)),
            }
            for j, source in zip(selection.columns, column_sources, strict=True)
        ],
        "orders": orderings(selection, row_groups, column_sources, factors),
        "rank1": (
            {
                "tasks": json_safe(factors["rank1_tasks"]),
                "examples": json_safe(factors["rank1_examples"]),
            }
            if factors
            else None
        ),
        "analysis": analysis_section(analysis, analysis_source),
        "task_stats": task_rows(analysis, tasks_table, task_ids, values),
        "evaluate": evaluate_section(evaluate) if evaluate is not None else None,
        "replay": json_safe(replay_doc, max_items=LIST_LIMIT) if replay_doc is not None else None,
        "run": json_safe(run_config(store)),
        "environment": environment(),
    }
