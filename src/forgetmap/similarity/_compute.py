"""Compute similarity kinds for a store and save them as its artifacts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from forgetmap.errors import SimilarityError
from forgetmap.similarity._registry import SimilarityInputs, get_kind
from forgetmap.store import ForgettingStore

DOCUMENT = "similarity"
PREFIX = "similarity_"


def similarity_inputs(store: ForgettingStore) -> SimilarityInputs:
    """The texts of a store's tasks (artifact ``task_texts``) and examples (column ``text``)."""
    task_texts = store.load_json("task_texts")
    if task_texts is None:
        raise SimilarityError(
            f"store {str(store.path)!r} has no task_texts artifact (the training texts of each "
            "task, written by `forgetmap collect`); similarity needs them"
        )
    if not isinstance(task_texts, dict):
        raise SimilarityError("artifact task_texts must map task ids to lists of texts")
    unknown = sorted(set(task_texts) - set(store.task_ids))
    if unknown:
        raise SimilarityError(f"task_texts names tasks the store lacks: {unknown[:5]}")
    examples = store.examples()
    if "text" not in examples.columns:
        raise SimilarityError(f"store {str(store.path)!r} has no example texts (column 'text')")
    texts = [None if t is None or t != t or t == "" else str(t) for t in examples["text"]]
    return SimilarityInputs(
        store=store,
        task_texts=[[str(t) for t in task_texts.get(task, [])] for task in store.task_ids],
        example_texts=texts,
    )


def compute_similarity(
    store: ForgettingStore, kinds: Sequence[str], *, batch_size: int = 32
) -> dict[str, Any]:
    """Compute each kind, save it as artifact ``similarity_<kind>`` and update ``similarity``.

    Returns the updated ``similarity`` document: ``{"kinds": {name: {"description",
    "artifact", "shape", "mean", "seconds"}}}``; kinds computed earlier stay listed.
    """
    chosen = [get_kind(name) for name in dict.fromkeys(kinds)]  # refuse unknown kinds first
    if not chosen:
        raise SimilarityError("no similarity kind given")
    inputs = similarity_inputs(store)
    document = store.load_json(DOCUMENT) or {"kinds": {}}
    for kind in chosen:
        started = time.perf_counter()
        matrix = np.asarray(kind.compute(inputs, batch_size=batch_size), dtype=np.float32)
        if matrix.shape != store.shape:
            raise SimilarityError(
                f"similarity {kind.name!r} returned shape {matrix.shape}, expected {store.shape}"
            )
        store.save_array(PREFIX + kind.name, matrix)
        finite = matrix[np.isfinite(matrix)]
        document["kinds"][kind.name] = {
            "description": kind.description,
            "artifact": PREFIX + kind.name,
            "shape": list(matrix.shape),
            "mean": float(finite.mean()) if finite.size else None,
            "seconds": time.perf_counter() - started,
        }
    store.save_json(DOCUMENT, document)
    return document
