"""A replay set for your own fine-tuning: the upstream examples to mix into your training data.

Most fine-tuning runs happen in the user's own trainer, not in ``forgetmap replay``. For them
the useful product of a forecast is a file: the upstream examples its samplers would replay,
as JSONL records the ``jsonl`` source reads (``id``, ``text`` or ``messages``), with the
prediction that chose them, ready to concatenate with the task's training data.

The predictions come from :func:`forgetmap.forecast.forecast` (k probes scored with a
checkpoint from early in the user's run) or from a ranking CSV it wrote before; the examples are
drawn by :func:`forgetmap.replay.draw_replay`, so a replay set replays exactly what the replay
experiment's sampler of the same name would.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forgetmap.errors import ConfigError
from forgetmap.replay._samplers import draw_replay, softmax_weights
from forgetmap.replay._stream import as_fraction, replay_count

if TYPE_CHECKING:
    from forgetmap.store import ForgettingStore

__all__ = [
    "SET_SAMPLERS",
    "ReplaySet",
    "choose_replay_set",
    "replay_set",
    "replay_set_budget",
    "write_replay_set",
]

SET_SAMPLERS = ("predicted", "predicted_topk", "random")
"""Samplers a replay set can use (``none`` replays nothing, ``ground_truth`` needs a plain run)."""


@dataclass
class ReplaySet:
    """The outcome of :func:`replay_set`.

    Attributes
    ----------
    records : list of dict
        One JSONL record per example to replay, in the sampler's (seeded) order: ``id``,
        ``text`` or ``messages``, ``source``, ``predicted_forgetting`` (None without a
        prediction) and ``weight``.
    document : dict
        A JSON-ready summary: settings, budget, pool, the forecast used.
    """

    records: list[dict[str, Any]]
    document: dict[str, Any] = field(default_factory=dict)


def replay_set_budget(
    budget: int | None = None,
    *,
    ratio: float | Fraction | str | None = None,
    dataset_size: int | None = None,
    pool_size: int,
) -> int:
    """Number of examples to replay: ``budget``, or ``floor(ratio * dataset_size)``.

    ``ratio`` is replay examples per task example, as in ``forgetmap replay``, so a dataset of
    ``dataset_size`` examples gets ``floor(ratio * dataset_size)`` replayed ones.

    Raises
    ------
    ConfigError
        Neither or both ways given; a ratio <= 0 or >= 1; a budget below 1 or above the pool
        (a replay set holds distinct examples).
    """
    if budget is not None and (ratio is not None or dataset_size is not None):
        raise ConfigError("give either a budget or a ratio with a dataset size, not both")
    if budget is None:
        if ratio is None or dataset_size is None:
            raise ConfigError(
                "say how many examples to replay: a budget, or a ratio (replay examples per "
                "training example) with the size of your training dataset"
            )
        fraction = as_fraction(ratio)
        if dataset_size < 1:
            raise ConfigError(f"the dataset size must be at least 1, got {dataset_size}")
        budget = replay_count(dataset_size, fraction)
        if budget < 1:
            raise ConfigError(
                f"ratio {ratio} × {dataset_size} training examples rounds down to no replay "
                "example; give a larger ratio or a budget"
            )
    if budget < 1:
        raise ConfigError(f"the replay budget must be at least 1, got {budget}")
    if budget > pool_size:
        raise ConfigError(
            f"a budget of {budget} examples is larger than the pool of {pool_size} upstream "
            "examples; a replay set holds each example once: ask for at most "
            f"{pool_size}"
        )
    return int(budget)


def choose_replay_set(
    examples: Sequence[Any],
    forgetting: np.ndarray | None,
    budget: int,
    *,
    sampler: str = "predicted",
    temperature: float = 0.05,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Draw the replay set from the upstream examples and their predicted forgetting.

    Parameters
    ----------
    examples : sequence of Example, length n_examples
        The pool: every upstream example of the store, in column order.
    forgetting : ndarray of shape (n_examples,), or None
        Predicted forgetting of each; None only for ``random``.
    budget : int
        How many to draw, ``1 <= budget <= n_examples``.
    sampler : {"predicted", "predicted_topk", "random"}
        As in ``forgetmap replay`` (:func:`~forgetmap.replay.draw_replay`).
    temperature : float
        T of ``softmax(forgetting / T)`` for ``predicted`` (and the weights).
    seed : int

    Returns
    -------
    list of dict
        The JSONL records, in the draw's order. ``weight`` is the example's weight in the
        ``predicted`` draw, ``softmax(forgetting / T)``, scaled so the pool averages 1 (> 1:
        more at risk than the average example); 1 for all without a prediction.
    """
    from forgetmap.data import example_to_record

    if sampler not in SET_SAMPLERS:
        raise ConfigError(
            f"sampler {sampler!r} cannot make a replay set; use {', '.join(SET_SAMPLERS)}"
        )
    if forgetting is None and sampler != "random":
        raise ConfigError(f"sampler {sampler!r} needs predictions: a checkpoint or a forecast")
    chosen = draw_replay(
        sampler,
        len(examples),
        budget,
        scores=forgetting,
        temperature=temperature,
        seed=seed,
    )
    if forgetting is None:
        weights = np.ones(len(examples))
    else:
        weights = softmax_weights(forgetting, temperature) * len(examples)
    records = []
    for position in chosen:
        example = examples[position]
        record = example_to_record(example)
        record["source"] = example.source
        record["predicted_forgetting"] = (
            None if forgetting is None else float(round(forgetting[position], 6))
        )
        record["weight"] = float(f"{weights[position]:.6g}")
        records.append(record)
    return records


def replay_set(
    store: ForgettingStore,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    forecast: str | os.PathLike[str] | None = None,
    budget: int | None = None,
    ratio: float | Fraction | str | None = None,
    dataset_size: int | None = None,
    sampler: str = "predicted",
    temperature: float = 0.05,
    seed: int = 0,
    k: int = 30,
    probe: str = "active",
    method: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    device: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ReplaySet:
    """Choose the upstream examples to replay in your own fine-tuning.

    Parameters
    ----------
    store : ForgettingStore
        A collected store of the model being fine-tuned.
    checkpoint : path-like or str, optional
        A checkpoint from an early part of your run (LoRA adapter or full model): its k probes
        are scored and every example predicted, as ``forgetmap forecast`` does.
    forecast : path-like, optional
        Or a ranking CSV that ``forgetmap forecast`` wrote from this store.
    budget, ratio, dataset_size
        How many examples (:func:`replay_set_budget`).
    sampler, temperature, seed
        How they are drawn (:func:`choose_replay_set`).
    k, probe, method, base_dir, device, progress
        Passed to :func:`~forgetmap.forecast.forecast` (``method`` defaults to forecast's).

    Raises
    ------
    ConfigError
        Bad budget, ratio, sampler or temperature; both or neither of checkpoint and forecast
        for a targeted sampler.
    StoreConflictError
        A forecast CSV of another store.
    CheckpointMismatchError
        A checkpoint of another base model than the store's.
    """
    from forgetmap.forecast import DEFAULT_METHOD, ranked_forgetting, read_ranking
    from forgetmap.forecast import forecast as run_forecast
    from forgetmap.replay._samplers import _check_temperature
    from forgetmap.stored_run import stored_run

    # cheap checks first: nothing is loaded or scored for bad arguments
    if checkpoint is not None and forecast is not None:
        raise ConfigError("give either a checkpoint to forecast from or a forecast CSV, not both")
    if sampler not in SET_SAMPLERS:
        raise ConfigError(
            f"sampler {sampler!r} cannot make a replay set; use {', '.join(SET_SAMPLERS)}"
        )
    if sampler != "random" and checkpoint is None and forecast is None:
        raise ConfigError(
            f"sampler {sampler!r} replays predicted forgetting: give a checkpoint to probe or a "
            "forecast CSV"
        )
    _check_temperature(temperature)
    n_examples = store.shape[1]
    count = replay_set_budget(budget, ratio=ratio, dataset_size=dataset_size, pool_size=n_examples)
    method = method or DEFAULT_METHOD
    ranking = read_ranking(forecast, store) if forecast is not None else None
    run = stored_run(store, base_dir)
    forecast_document: dict[str, Any] | None = None
    if checkpoint is not None:
        result = run_forecast(
            store,
            checkpoint,
            k=k,
            probe=probe,
            method=method,
            seed=seed,
            base_dir=base_dir,
            device=device,
            progress=progress,
        )
        ranking = result.ranking
        forecast_document = {key: value for key, value in result.document.items() if key != "top"}
    forgetting = None if ranking is None else ranked_forgetting(ranking, store.example_ids)
    records = choose_replay_set(
        run.plan.upstream, forgetting, count, sampler=sampler, temperature=temperature, seed=seed
    )
    chosen = [record["predicted_forgetting"] for record in records]
    document = {
        "store": str(store.path),
        "model": run.config.model.id,
        "sampler": sampler,
        "temperature": float(temperature),
        "seed": int(seed),
        "budget": count,
        "pool": n_examples,
        "ratio": None if ratio is None else str(as_fraction(ratio)),
        "dataset_size": dataset_size,
        "predictions": "checkpoint"
        if checkpoint is not None
        else ("forecast" if forecast is not None else None),
        "forecast_file": None if forecast is None else str(forecast),
        "forecast": forecast_document,
        "pool_predicted_mean": None if forgetting is None else float(forgetting.mean()),
        "replayed_predicted_mean": None if forgetting is None else float(np.mean(chosen)),
        "ids": [record["id"] for record in records],
    }
    return ReplaySet(records=records, document=document)


def write_replay_set(records: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> str:
    """Write the records as JSON Lines, atomically; returns the path."""
    from forgetmap.store import atomic_write

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)

    def write(temp: Path) -> None:
        with open(temp, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    atomic_write(target, write)
    return str(target)
