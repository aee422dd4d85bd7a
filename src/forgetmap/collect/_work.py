"""The work of a run, the same under every executor: score the base model, then fine-tune and
score once per task (or, for a task given as a checkpoint, apply it and score) and write the
task's row.

A :class:`RunSpec` holds everything a worker needs as plain, picklable values (token ids, not a
tokenizer), so a Ray worker on another machine computes exactly what the local executor does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from forgetmap.data import Example
from forgetmap.store import open_store

Progress = Callable[[int], None]


@dataclass(frozen=True)
class RunSpec:
    """What every job of one run shares.

    Attributes
    ----------
    store_path : str
        The run directory, a local path or a URL (``s3://bucket/run``); each job opens it and
        writes its own results there, so every worker must reach it.
    model, training, scoring : dict
        The config's sections (``ModelConfig``, ``TrainingConfig``, ``ScoringConfig`` dumps).
    threads : int
        Torch CPU threads in every process of the run. Results of float reductions can depend on
        the thread count, so both executors set the same one.
    upstream : tuple of Example, length N
        The upstream examples (exact match decodes from their prompts).
    upstream_encoded : tuple of EncodedExample, length N
        Their token ids and scored masks, cut to ``scoring.max_length``.
    """

    store_path: str
    model: dict[str, Any]
    training: dict[str, Any]
    scoring: dict[str, Any]
    threads: int
    upstream: tuple[Example, ...]
    upstream_encoded: tuple[Any, ...]

    def training_settings(self) -> Any:
        """The run's :class:`forgetmap.lm.TrainingSettings` (its lists become tuples there)."""
        from forgetmap.lm import TrainingSettings

        return TrainingSettings(**self.training)


@dataclass(frozen=True)
class TaskJob:
    """One task to run: its id, training examples (encoded) and the seed of their order.

    ``checkpoint``, when set, is the local directory of a fine-tuned checkpoint to score instead
    of training (``encoded`` is then empty); under Ray it must be at that path on every node.
    """

    id: str
    encoded: tuple[Any, ...]
    seed: int
    checkpoint: str | None = None


@dataclass
class Hooks:
    """Progress callbacks of the local executor (a Ray worker runs without them)."""

    scoring: Callable[[str, int], Progress] | None = None  # (label, total) -> progress(n_done)
    training: Callable[[str, int], Progress] | None = None  # (task id, steps) -> progress(step)


_MODELS: dict[str, Any] = {}
_LOWER_LAYERS: dict[tuple[str, int, int], Any] = {}


def configure_process(threads: int) -> None:
    """Give torch the run's thread count in this process (driver or worker)."""
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@contextmanager
def torch_threads_kept() -> Iterator[None]:
    """Give this process its torch thread count back once a run that set its own is over."""
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def model_for(spec: RunSpec) -> Any:
    """The run's model, loaded once per process and reused by every job in it.

    Reuse is safe because each task trains inside :func:`forgetmap.lm.base_weights`, which puts
    the exact base weights back on exit.
    """
    from forgetmap.lm import load_model

    configure_process(spec.threads)
    key = repr(sorted(spec.model.items()))
    if key not in _MODELS:
        _MODELS.clear()  # one model per process: a new run's model replaces the last one
        _MODELS[key] = load_model(
            spec.model["id"],
            dtype=spec.model["dtype"],
            device=spec.model["device"],
            trust_remote_code=spec.model["trust_remote_code"],
        )
    return _MODELS[key]


def lower_layers_for(spec: RunSpec, loaded: Any) -> Any:
    """The kept lower-layer outputs of this process's model for the run's upstream batches, or
    None when the run's fine-tuning changes every layer.

    With LoRA on the upper layers only, the layers below are the base model's in the base pass
    and in every task's, so each task's scoring reuses their outputs from the first pass
    (:class:`forgetmap.lm.LowerLayers`; bit-identical scores). Kept per process, like the model.
    """
    from forgetmap.lm import LowerLayers, frozen_lower_layers

    n_frozen = frozen_lower_layers(loaded.model, spec.training_settings())
    if n_frozen == 0:
        return None
    batching = (spec.scoring["batch_size"], spec.scoring.get("max_batch_tokens"))
    key = (repr(sorted(spec.model.items())), n_frozen, batching)
    if key not in _LOWER_LAYERS:
        _LOWER_LAYERS.clear()  # one run's model at a time, as _MODELS
        _LOWER_LAYERS[key] = LowerLayers(n_frozen)
    return _LOWER_LAYERS[key]


def score_upstream(
    loaded: Any,
    spec: RunSpec,
    *,
    label: str,
    hooks: Hooks | None = None,
    reuse: Any = None,
) -> dict[str, np.ndarray]:
    """Scores of the upstream examples by ``loaded`` as it is now: {metric: (n_examples,)}.

    ``reuse`` (from :func:`lower_layers_for`) only where ``loaded``'s lower layers are the base
    model's: the base model, or a task trained with the run's settings.
    """
    from forgetmap.lm import score_nll

    progress = None
    if hooks is not None and hooks.scoring is not None:
        progress = hooks.scoring(label, len(spec.upstream_encoded))
    scores = {
        "nll": score_nll(
            loaded,
            list(spec.upstream_encoded),
            batch_size=spec.scoring["batch_size"],
            max_batch_tokens=spec.scoring.get("max_batch_tokens"),
            progress=progress,
            reuse=reuse,
        )
    }
    if "exact_match" in spec.scoring["metrics"]:
        from forgetmap.lm import exact_match

        scores["exact_match"] = exact_match(
            loaded,
            list(spec.upstream),
            max_new_tokens=spec.scoring["max_new_tokens"],
            batch_size=spec.scoring["batch_size"],
        )
    return scores


def run_before(spec: RunSpec, hooks: Hooks | None = None) -> None:
    """Score the base model once and store the before-scores."""
    loaded = model_for(spec)
    reuse = lower_layers_for(spec, loaded)
    scores = score_upstream(loaded, spec, label="base model", hooks=hooks, reuse=reuse)
    open_store(spec.store_path).write_before(scores)


@contextmanager
def fine_tuned(
    loaded: Any,
    encoded: Sequence[Any],
    settings: Any,
    *,
    seed: int,
    progress: Progress | None = None,
) -> Iterator[tuple[Any, float]]:
    """Fine-tune ``loaded`` from its base weights on one task's encoded examples.

    Inside, ``loaded`` is the fine-tuned model; yields the training summary and the seconds it
    took; on exit the base model is back. The one place a task is trained: collect's rows and
    ``forgetmap finetune``'s checkpoints both come from here, so the checkpoint of a measured
    task is the model its row was scored with.
    """
    from forgetmap.lm import base_weights, finetune, task_batches

    with base_weights(loaded, settings):
        batches = task_batches(list(encoded), settings, seed=seed)
        start = time.perf_counter()
        trained = finetune(loaded, batches, settings, progress=progress)
        yield trained, time.perf_counter() - start


def run_task(
    spec: RunSpec, job: TaskJob, before: Mapping[str, np.ndarray], hooks: Hooks | None = None
) -> dict[str, Any]:
    """Fine-tune from the base weights on one task, score, and write the task's row (a task given
    as a checkpoint is scored by :func:`run_checkpoint` instead).

    ``before`` are the stored before-scores (already in the store's dtype), so a row computed
    in a resumed run or on a Ray worker is bit-identical to one computed locally in one go.
    Returns the row's summary.
    """
    if job.checkpoint is not None:
        return run_checkpoint(spec, job, before, hooks)
    loaded = model_for(spec)
    settings = spec.training_settings()
    progress = None
    if hooks is not None and hooks.training is not None:
        progress = hooks.training(job.id, settings.steps)
    with fine_tuned(loaded, job.encoded, settings, seed=job.seed, progress=progress) as (
        trained,
        train_seconds,
    ):
        start = time.perf_counter()
        after = score_upstream(
            loaded, spec, label=f"after {job.id}", hooks=hooks, reuse=lower_layers_for(spec, loaded)
        )
        score_seconds = time.perf_counter() - start
    summary = {
        "first_loss": float(trained.first_loss),
        "last_loss": float(trained.last_loss),
        "loss_drop": float(trained.first_loss - trained.last_loss),
        "steps": int(trained.steps),
        "tokens": int(trained.tokens),
        "train_seconds": round(train_seconds, 3),
        "score_seconds": round(score_seconds, 3),
    }
    return _write_row(spec, job, before, after, summary)


def run_checkpoint(
    spec: RunSpec, job: TaskJob, before: Mapping[str, np.ndarray], hooks: Hooks | None = None
) -> dict[str, Any]:
    """Apply a task's fine-tuned checkpoint to the base model, score, and write the task's row.

    Nothing is trained; the summary says which checkpoint was scored and how. A checkpoint that
    ``forgetmap finetune`` saved gives the row that training the task here gives.
    """
    from forgetmap.lm import applied_checkpoint

    assert job.checkpoint is not None
    loaded = model_for(spec)
    with applied_checkpoint(loaded, job.checkpoint) as kind:
        start = time.perf_counter()
        after = score_upstream(loaded, spec, label=f"after {job.id}", hooks=hooks)
        score_seconds = time.perf_counter() - start
    summary = {
        "checkpoint": job.checkpoint,
        "checkpoint_kind": kind,
        "score_seconds": round(score_seconds, 3),
    }
    return _write_row(spec, job, before, after, summary)


def _write_row(
    spec: RunSpec,
    job: TaskJob,
    before: Mapping[str, np.ndarray],
    after: Mapping[str, np.ndarray],
    summary: dict[str, Any],
) -> dict[str, Any]:
    """Store a task's after-scores (in the store's dtype), forgetting and summary."""
    store = open_store(spec.store_path)
    after = {metric: values.astype(store.dtype) for metric, values in after.items()}
    forgetting = forgetting_rows(before, after)
    store.write_row(job.id, forgetting, after=after, summary=summary)
    return summary


def forgetting_rows(
    before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Forgetting per metric, each of shape (n_examples,).

    ``nll``: after − before (positive = forgotten). ``exact_match``: 1 where the base model
    reproduced the response and the fine-tuned one does not, 0 where it stayed (or became)
    right or was wrong already, NaN where undefined (plain-text examples).
    """
    rows = {}
    for metric, after_values in after.items():
        a = np.asarray(after_values, dtype=np.float64)
        b = np.asarray(before[metric], dtype=np.float64)
        if metric == "exact_match":
            row = np.where((b == 1.0) & (a == 0.0), 1.0, 0.0)
            row[~(np.isfinite(a) & np.isfinite(b))] = np.nan
        else:
            row = a - b
        rows[metric] = row
    return rows
