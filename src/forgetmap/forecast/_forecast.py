"""Forecast a new checkpoint's forgetting of every upstream example from k scored ones.

The tasks already measured in a store teach a completion estimator how forgetting co-varies
across examples. A new fine-tuned checkpoint is then scored on only k upstream examples (chosen
at random or actively from the training rows), its forgetting of those k is measured against the
store's before-scores, and the estimator folds it in to predict all N, with calibrated intervals.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from forgetmap.errors import PredictionError, StoreError

if TYPE_CHECKING:
    import pandas as pd

    from forgetmap.store import ForgettingStore

__all__ = ["COLUMNS", "PROBES", "Forecast", "choose_probes", "forecast", "write_ranking"]

PROBES = ("active", "random")
METRIC = "nll"
COLUMNS = (
    "rank",
    "example",
    "forgetting",
    "predicted",
    "low",
    "high",
    "probed",
    "measured",
    "actual",
    "source",
    "text",
)


@dataclass
class Forecast:
    """The outcome of :func:`forecast`.

    Attributes
    ----------
    ranking : pandas.DataFrame
        One row per upstream example, most at risk first, with the columns of :data:`COLUMNS`:
        ``forgetting`` is the measured value for a probed example and the prediction otherwise
        (what the ranking sorts by); ``predicted``, ``low`` and ``high`` are the estimator's
        prediction and interval; ``measured`` is NaN unless ``probed``; ``actual`` is every
        example's measured forgetting when the forecast was verified (NaN otherwise).
    document : dict
        A JSON-ready summary: settings, probes, timings and the top of the ranking.
    """

    ranking: pd.DataFrame
    document: dict[str, Any] = field(default_factory=dict)


def choose_probes(values: np.ndarray, k: int, probe: str, *, seed: int = 0) -> np.ndarray:
    """Which k upstream examples to score, from the training rows alone.

    Parameters
    ----------
    values : ndarray of shape (n_tasks, n_examples)
        Forgetting of the measured tasks (NaN: unmeasured).
    k : int
        Number of probes, ``1 <= k < n_examples``.
    probe : {"active", "random"}
        ``active``: greedy D-optimal design on the leading factors of the training rows (as
        ``forgetmap evaluate --probe active``); ``random``: uniform without replacement.
    seed : int

    Returns
    -------
    ndarray of int, shape (k,)
        Sorted column indices.
    """
    from forgetmap.predict import (
        CompletionConvergenceWarning,
        LowRank,
        active_probes,
        random_probes,
    )

    n_examples = values.shape[1]
    columns = np.arange(n_examples)
    if probe == "random":
        return random_probes(columns, k, np.random.default_rng(seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompletionConvergenceWarning)
        components = LowRank(rank=min(10, k), random_state=seed).fit(values).components_
    return active_probes(components, k, columns, rng=np.random.default_rng(seed))


def forecast(
    store: ForgettingStore,
    checkpoint: str | os.PathLike[str],
    *,
    k: int = 30,
    probe: str = "active",
    method: str = "lowrank",
    seed: int = 0,
    level: float = 0.9,
    base_dir: str | os.PathLike[str] | None = None,
    device: str | None = None,
    progress: Callable[[str], None] | None = None,
    verify: bool = False,
) -> Forecast:
    """Rank every upstream example by the forgetting a fine-tuned checkpoint is predicted to cause.

    Parameters
    ----------
    store : ForgettingStore
        A collected store with before-scores and at least 2 finished task rows (metric ``nll``).
    checkpoint : path-like or str
        A LoRA adapter directory or a full model directory fine-tuned from the store's base
        model, or a hub id of one.
    k : int
        Upstream examples to score with the checkpoint, ``1 <= k < n_examples``.
    probe : {"active", "random"}
        How to choose them (see :func:`choose_probes`).
    method : str
        A completion estimator of :mod:`forgetmap.predict` for continuous forgetting
        (``lowrank``, ``multiplicative``, ``additive``, ``knn``, ``mean``).
    seed : int
        Seeds the probe choice and the estimator.
    level : float
        Nominal coverage of the predictive intervals.
    base_dir : path-like, optional
        Folder that relative data paths of the store's config resolve against (default: the
        one collect recorded).
    device : str, optional
        Overrides the config's device for the model.
    progress : callable, optional
        ``progress(message)`` at each stage.
    verify : bool
        Also score the other N - k examples (the cost a forecast exists to avoid) and report in
        ``document["verification"]`` how the forecast did on them: RMSE and MAE (with the
        column-mean forecast for scale), Pearson, Spearman, AUC and precision@10% of the
        ranking, and the coverage of the intervals.

    Returns
    -------
    Forecast

    Raises
    ------
    PredictionError
        Bad k, probe or method, or too few training rows.
    CheckpointMismatchError
        The checkpoint was fine-tuned from another model.
    InputFileNotFoundError
        No checkpoint at that path or id.
    """
    from forgetmap.forecast._checkpoint import check_checkpoint, resolve_checkpoint
    from forgetmap.lm import load_checkpoint, score_nll
    from forgetmap.stored_run import load_base_model, stored_run

    say = progress or (lambda message: None)
    start = time.perf_counter()
    # cheap checks first: nothing is loaded for bad arguments
    estimator = _estimator(method, seed, k)
    values = _training_rows(store)
    n_examples = store.shape[1]
    if probe not in PROBES:
        raise PredictionError(f"unknown probe strategy {probe!r}; use {' or '.join(PROBES)}")
    if not 1 <= k < n_examples:
        raise PredictionError(
            f"k must be at least 1 and below the number of upstream examples ({n_examples}), "
            f"got {k}"
        )
    if not 0.0 < level < 1.0:
        raise PredictionError(f"interval level must lie in (0, 1), got {level}")
    directory = resolve_checkpoint(checkpoint)
    run = stored_run(store, base_dir)
    # fit and choose probes from the training rows alone
    with warnings.catch_warnings():
        from forgetmap.predict import CompletionConvergenceWarning

        warnings.simplefilter("ignore", CompletionConvergenceWarning)
        estimator.fit(values)
    probes = choose_probes(values, k, probe, seed=seed)
    # load the base model and the checkpoint on top of it
    say(f"loading {run.config.model.id} and {directory}")
    base = load_base_model(run.config, device=device)
    kind = check_checkpoint(directory, base.model, run.config.model.id)
    tuned = load_checkpoint(base, directory)
    # score the k probes only, against the stored before-scores
    say(f"scoring {k} of {n_examples} upstream examples")
    upstream, _ = run.encode(base.tokenizer)
    score_start = time.perf_counter()
    after = score_nll(
        tuned, [upstream[j] for j in probes], batch_size=run.config.scoring.batch_size
    ).astype(store.dtype)
    score_seconds = time.perf_counter() - score_start
    before = store.before(METRIC)[probes]
    measured = after.astype(np.float64) - before.astype(np.float64)  # (k,)
    if not np.isfinite(measured).all():
        raise StoreError(
            f"store {str(store.path)!r} has no before-score for some probed examples; "
            "finish the collection first"
        )
    # predict all N with intervals
    if estimator.has_intervals:
        predicted, low, high = estimator.predict_interval(probes, measured, level=level)
    else:
        predicted = estimator.predict_row(probes, measured)
        low = high = np.full(n_examples, np.nan)
    actual = np.full(n_examples, np.nan)
    verification = None
    if verify:
        say(f"verifying: scoring the other {n_examples - k} upstream examples")
        rest = np.setdiff1d(np.arange(n_examples), probes)
        verify_start = time.perf_counter()
        after_rest = score_nll(
            tuned, [upstream[j] for j in rest], batch_size=run.config.scoring.batch_size
        ).astype(store.dtype)
        actual[rest] = after_rest.astype(np.float64) - store.before(METRIC)[rest].astype(np.float64)
        actual[probes] = measured
        verification = _verification(
            actual, predicted, low, high, values, rest, time.perf_counter() - verify_start
        )
    ranking = _ranking(store, probes, measured, predicted, low, high, actual)
    document = {
        "store": str(store.path),
        "checkpoint": str(checkpoint),
        "checkpoint_dir": str(directory),
        "checkpoint_kind": kind,
        "model": run.config.model.id,
        "metric": METRIC,
        "method": method,
        "probe": probe,
        "k": int(k),
        "seed": int(seed),
        "level": float(level),
        "n_examples": int(n_examples),
        "training_tasks": int(values.shape[0]),
        "probes": [store.example_ids[j] for j in probes],
        "measured_mean": float(measured.mean()),
        "predicted_mean": float(np.mean(ranking["forgetting"])),
        "score_seconds": round(score_seconds, 3),
        "seconds": round(time.perf_counter() - start, 3),
        "top": _records(ranking.head(10)),
    }
    if verification is not None:
        document["verification"] = verification
    return Forecast(ranking=ranking, document=document)


def _verification(
    actual: np.ndarray,
    predicted: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    values: np.ndarray,
    rest: np.ndarray,
    seconds: float,
) -> dict[str, Any]:
    """How the forecast did on the examples it did not score (``rest``)."""
    from forgetmap.predict.protocol import row_metrics

    truth, guess = actual[rest], predicted[rest]
    metrics = row_metrics(truth, guess, threshold=0.0, predicted_threshold=0.0)
    column_means = np.nanmean(values, axis=0)[rest]
    with np.errstate(invalid="ignore"):
        covered = (truth >= low[rest]) & (truth <= high[rest])
    numbers = {
        "examples": int(rest.size),
        "rmse": float(np.sqrt(metrics["se"] / metrics["n"])),
        "mae": float(metrics["ae"] / metrics["n"]),
        "column_mean_rmse": float(np.sqrt(np.mean((column_means - truth) ** 2))),
        "pearson": metrics["pearson"],
        "spearman": metrics["spearman"],
        "auc": metrics["auc"],
        "precision_at_10": metrics["precision_at_10"],
        "coverage": float(covered.mean()) if np.isfinite(low[rest]).all() else None,
        "actual_mean": float(truth.mean()),
        "score_seconds": round(seconds, 3),
    }
    return {
        key: (None if isinstance(value, float) and value != value else value)
        for key, value in numbers.items()
    }


def write_ranking(ranking: pd.DataFrame, path: str | os.PathLike[str]) -> str:
    """Write the ranking as CSV, atomically (a reader sees the old file or the whole new one)."""
    from pathlib import Path

    from forgetmap.store._atomic import atomic_write

    target = Path(path)
    if target.is_dir():
        raise PredictionError(f"{str(path)!r} is a directory; name a CSV file")
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda temp: ranking.to_csv(temp, index=False, float_format="%.6g"))
    return str(target)


# ---------------------------------------------------------------------- helpers
def _estimator(method: str, seed: int, k: int) -> Any:
    from forgetmap.predict import make_estimator

    estimator = make_estimator(method, seed, k)
    if estimator.binary_only:
        raise PredictionError(
            f"method {method!r} models exact-match (0/1) forgetting; forecast predicts NLL "
            "forgetting: use lowrank, multiplicative, additive, knn or mean"
        )
    return estimator


def _training_rows(store: ForgettingStore) -> np.ndarray:
    if store.kind != "collected" or not store.has_scores or METRIC not in store.metrics:
        raise StoreError(
            f"store {str(store.path)!r} is not a collected run with NLL scores; forecast needs "
            "a store made by `forgetmap collect`"
        )
    if not store.has_before():
        raise StoreError(f"store {str(store.path)!r} has no before-scores yet; run collect")
    values = store.forgetting(METRIC, finished_only=True).astype(np.float64)
    if values.shape[0] < 2:
        raise PredictionError(
            f"store {str(store.path)!r} has {values.shape[0]} finished task row(s); at least 2 "
            "training rows are needed to forecast"
        )
    return values


def _ranking(
    store: ForgettingStore,
    probes: np.ndarray,
    measured: np.ndarray,
    predicted: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    actual: np.ndarray,
) -> pd.DataFrame:
    import pandas as pd

    n_examples = store.shape[1]
    probed = np.zeros(n_examples, dtype=bool)
    probed[probes] = True
    measured_all = np.full(n_examples, np.nan)
    measured_all[probes] = measured
    estimate = np.where(probed, measured_all, predicted)
    examples = store.examples()
    frame = pd.DataFrame(
        {
            "example": list(store.example_ids),
            "forgetting": estimate,
            "predicted": predicted,
            "low": low,
            "high": high,
            "probed": probed,
            "measured": measured_all,
            "actual": actual,
            "source": _column(examples, "source", n_examples),
            "text": _column(examples, "text", n_examples),
        }
    )
    # most at risk first; ties keep the store's column order
    order = np.lexsort((np.arange(n_examples), -estimate))
    frame = frame.iloc[order].reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, n_examples + 1))
    return frame[list(COLUMNS)]


def _column(table: pd.DataFrame, name: str, n: int) -> list[Any]:
    if name not in table.columns:
        return [None] * n
    return [None if value is None or value != value else str(value) for value in table[name]]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for record in frame.to_dict(orient="records"):
        rows.append(
            {
                key: (None if isinstance(value, float) and value != value else value)
                for key, value in record.items()
            }
        )
    for row in rows:
        for key in ("rank",):
            row[key] = int(row[key])
        row["probed"] = bool(row["probed"])
    return rows
