"""Forecast a new checkpoint's forgetting of every upstream example from k scored ones.

The tasks already measured in a store teach a completion estimator how forgetting co-varies
across examples. A new fine-tuned checkpoint is then scored on only k upstream examples (chosen
at random or actively from the training rows), its forgetting of those k is measured against the
store's before-scores, and the estimator folds it in to predict all N, with calibrated intervals.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from forgetmap.forecast._forecaster import DEFAULT_METHOD, METRIC, Forecaster

if TYPE_CHECKING:
    import pandas as pd

    from forgetmap.store import ForgettingStore

__all__ = ["Forecast", "forecast"]


@dataclass
class Forecast:
    """The outcome of :func:`forecast`.

    Attributes
    ----------
    ranking : pandas.DataFrame
        One row per upstream example, most at risk first, with the columns of
        :data:`~forgetmap.forecast.COLUMNS`:
        ``forgetting`` is the measured value for a probed example and the prediction otherwise
        (what the ranking sorts by); ``predicted``, ``low`` and ``high`` are the estimator's
        prediction and interval; ``measured`` is NaN unless ``probed``; ``actual`` is every
        example's measured forgetting when the forecast was verified (NaN otherwise).
    document : dict
        A JSON-ready summary: settings, probes, timings and the top of the ranking.
    """

    ranking: pd.DataFrame
    document: dict[str, Any] = field(default_factory=dict)


def forecast(
    store: ForgettingStore,
    checkpoint: str | os.PathLike[str],
    *,
    k: int = 30,
    probe: str = "active",
    method: str = DEFAULT_METHOD,
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
    from forgetmap.lm import check_checkpoint, load_checkpoint, resolve_checkpoint, score_nll
    from forgetmap.stored_run import load_base_model, stored_run

    say = progress or (lambda message: None)
    start = time.perf_counter()
    # cheap checks first: nothing is loaded for bad arguments
    forecaster = Forecaster(store, k=k, probe=probe, method=method, seed=seed, level=level)
    n_examples = store.shape[1]
    directory = resolve_checkpoint(checkpoint)
    run = stored_run(store, base_dir)
    # fit and choose probes from the training rows alone
    probes = forecaster.fit().probes_
    # load the base model and the checkpoint on top of it
    say(f"loading {run.config.model.id} and {directory}")
    base = load_base_model(run.config, device=device)
    kind = check_checkpoint(directory, base.model, run.config.model.id)
    tuned = load_checkpoint(base, directory)
    # score the k probes only, against the stored before-scores
    say(f"scoring {k} of {n_examples} upstream examples")
    upstream, _ = run.encode(base.tokenizer)
    score_start = time.perf_counter()
    after = score_nll(tuned, [upstream[j] for j in probes], **run.config.scoring.batching()).astype(
        store.dtype
    )
    score_seconds = time.perf_counter() - score_start
    measured = forecaster.measured(after)  # (k,)
    values = forecaster.values
    actual = np.full(n_examples, np.nan)
    verification = None
    if verify:
        say(f"verifying: scoring the other {n_examples - k} upstream examples")
        rest = np.setdiff1d(np.arange(n_examples), probes)
        verify_start = time.perf_counter()
        after_rest = score_nll(
            tuned, [upstream[j] for j in rest], **run.config.scoring.batching()
        ).astype(store.dtype)
        actual[rest] = after_rest.astype(np.float64) - store.before(METRIC)[rest].astype(np.float64)
        actual[probes] = measured
        predicted, low, high = forecaster.predict(measured)
        verification = _verification(
            actual, predicted, low, high, values, rest, time.perf_counter() - verify_start
        )
    ranking = forecaster.ranking(measured, actual)
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
