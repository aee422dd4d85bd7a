"""Gather what :func:`~forgetmap.predict.evaluate` needs from a store, and run it.

Only finished task rows take part. Similarity arrays (``similarity_embedding``,
``similarity_tfidf``, ``similarity_gradient``) and the texts (artifact ``task_texts``, column
``text`` of the examples table) are passed along when the store has them; baselines without
their inputs are reported as skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from forgetmap.errors import PredictionError
from forgetmap.predict.protocol import evaluate, parse_split

if TYPE_CHECKING:
    from forgetmap.store import ForgettingStore

__all__ = ["evaluate_store", "store_inputs"]


def store_inputs(store: ForgettingStore, metric: str | None = None) -> dict[str, Any]:
    """The finished rows' matrix, task ids, task table, similarities and texts of a store."""
    rows = np.flatnonzero(store.finished_mask())
    values = store.forgetting(metric, finished_only=True)
    task_ids = [store.task_ids[i] for i in rows]
    similarities = {}
    for key in ("embedding", "tfidf", "gradient"):
        array = store.load_array(f"similarity_{key}")
        if array is not None and array.shape == store.shape:
            similarities[key] = array[rows]
    texts = None
    task_texts = store.load_json("task_texts")
    examples = store.examples()
    has_texts = isinstance(task_texts, dict) and "text" in examples.columns
    if has_texts and all(task in task_texts for task in task_ids):
        texts = {
            "tasks": [list(task_texts[task]) for task in task_ids],
            "examples": [None if t is None or t != t else str(t) for t in examples["text"]],
        }
    return {
        "values": values,
        "task_ids": task_ids,
        "tasks_table": store.tasks_table().iloc[rows],
        "similarities": similarities,
        "texts": texts,
    }


def evaluate_store(
    store: ForgettingStore,
    *,
    methods: Sequence[str] | None = None,
    split: str = "loo",
    metric: str | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Run :func:`~forgetmap.predict.evaluate` on a store's finished rows (same document)."""
    inputs = store_inputs(store, metric)
    kind, field = parse_split(split)
    groups = None
    if kind == "group":
        table = inputs["tasks_table"]
        if field not in table.columns:
            raise PredictionError(
                f"split {split!r}: the task table has no column {field!r} "
                f"(it has {', '.join(map(str, table.columns)) or 'none'})"
            )
        groups = table[field].tolist()
    document = evaluate(
        inputs["values"],
        methods=methods,
        split=split,
        groups=groups,
        similarities=inputs["similarities"],
        texts=inputs["texts"],
        **settings,
    )
    document["settings"].update({"run": str(store.path), "metric": metric or store.metrics[0]})
    return document
