"""Forecast before fine-tuning: what a model will forget if fine-tuned on *this* data (k = 0).

No checkpoint and no probe: the new task's training texts are compared with those of the tasks
the store has measured (artifact ``task_texts``), and :class:`~forgetmap.predict.SimilarityPrior`
predicts the new row from the rows of the most similar tasks, with the similarity kind and
temperature validated on the store (leave one task out). It is the prior that probes of a real
checkpoint (``forgetmap forecast --checkpoint``) then refine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

import numpy as np

from forgetmap.errors import PredictionError, StoreError
from forgetmap.forecast._forecast import Forecast, _records
from forgetmap.forecast._forecaster import METRIC, _training_rows
from forgetmap.forecast._ranking import build_ranking
from forgetmap.store import ForgettingStore

__all__ = ["forecast_before_finetuning"]


def forecast_before_finetuning(
    store: ForgettingStore,
    task_data: str | os.PathLike[str],
    *,
    kinds: Sequence[str] = ("tfidf", "embedding"),
    level: float = 0.9,
    progress: Callable[[str], None] | None = None,
) -> Forecast:
    """Rank every upstream example by the forgetting that fine-tuning on ``task_data`` would cause.

    Parameters
    ----------
    store : ForgettingStore
        A collected store with at least 3 finished rows and their training texts.
    task_data : path-like
        A JSONL file of the new task's training examples (the ``jsonl`` source's records).
    kinds : sequence of {"tfidf", "embedding"}
        Task similarities to choose from (validated on the store).
    level : float
        Nominal coverage of the intervals.

    Returns
    -------
    Forecast
        Its ranking has no probed example; ``document`` names the chosen similarity, the
        temperature, the validation RMSE against the column means, and the most similar tasks.
    """
    from forgetmap.data import read_jsonl
    from forgetmap.predict import SimilarityPrior
    from forgetmap.similarity import task_similarity

    say = progress or (lambda message: None)
    start = time.perf_counter()
    if not 0 < level < 1:
        raise PredictionError(f"level must be between 0 and 1, got {level}")
    values = _training_rows(store)
    tasks = store.finished()
    texts = _task_texts(store, tasks)
    new_texts = [example.display_text for example in read_jsonl(task_data)]
    if not new_texts:
        raise PredictionError(f"{str(task_data)!r} holds no examples")
    say(f"comparing {len(new_texts)} texts with the training texts of {len(tasks)} tasks")
    among: dict[str, np.ndarray] = {}
    to_new: dict[str, np.ndarray] = {}
    for kind in kinds:
        both = task_similarity([*texts, new_texts], [*texts, new_texts], kind)
        among[kind], to_new[kind] = both[:-1, :-1], both[-1, :-1]
    prior = SimilarityPrior().fit(values, among)
    predicted, low, high = prior.predict_interval(to_new, level=level)
    n_examples = store.shape[1]
    nothing = np.zeros(0, dtype=np.intp)
    ranking = build_ranking(
        store, nothing, np.zeros(0), predicted, low, high, np.full(n_examples, np.nan)
    )
    weights = prior.weights(to_new)
    nearest = np.argsort(-weights, kind="stable")[:5]
    mean_rmse = prior.validation_[(prior.kind_, float("inf"))]
    document = {
        "store": str(store.path),
        "task_data": str(task_data),
        "task_examples": len(new_texts),
        "metric": METRIC,
        "method": "similarity_prior",
        "k": 0,
        "similarity": prior.kind_,
        "temperature": prior.temperature_ if np.isfinite(prior.temperature_) else None,
        "validation_rmse": prior.validation_[(prior.kind_, prior.temperature_)],
        "validation_column_mean_rmse": mean_rmse,
        "nearest_tasks": [
            {
                "task": tasks[i],
                "similarity": float(to_new[prior.kind_][i]),
                "weight": float(weights[i]),
            }
            for i in nearest
        ],
        "level": float(level),
        "n_examples": int(n_examples),
        "training_tasks": int(values.shape[0]),
        "predicted_mean": float(np.mean(predicted)),
        "seconds": round(time.perf_counter() - start, 3),
        "top": _records(ranking.head(10)),
    }
    return Forecast(ranking=ranking, document=document)


def _task_texts(store: ForgettingStore, tasks: Sequence[str]) -> list[list[str]]:
    kept = store.load_json("task_texts")
    if not isinstance(kept, dict) or any(not kept.get(task) for task in tasks):
        raise StoreError(
            f"store {str(store.path)!r} does not hold the training texts of every finished task "
            "(artifact task_texts, written by `forgetmap collect` for tasks with a source); a "
            "forecast before fine-tuning compares the new data with them"
        )
    return [[str(text) for text in kept[task]] for task in tasks]
