"""The replay experiment end to end: plan, run every (task, seed, sampler), summarise.

The output directory is a forgetmap store whose rows are the runs (``"<task>/seed<s>/<sampler>"``,
grouped by sampler) and whose columns are the upstream examples, so every run's forgetting of
every example is kept, a killed experiment resumes by skipping finished rows, and
``forgetmap info DIR`` works on it. The result document is written to ``DIR/replay.json`` and
saved as the store's ``replay`` artifact.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from forgetmap.errors import StoreConflictError
from forgetmap.replay._config import ReplayConfig, load_replay_config
from forgetmap.replay._plan import ReplayPlan, plan_replay
from forgetmap.replay._results import existing_store
from forgetmap.replay._summary import RunResult, summarise

__all__ = ["run_replay", "summarise_store"]

RESULT_FILE = "replay.json"


def run_replay(
    config: ReplayConfig | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    base_dir: str | os.PathLike[str] | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) the replay experiment into ``out`` and return its result document.

    Parameters
    ----------
    config : ReplayConfig or path of a TOML file
    out : path
        Result directory (a store of runs × upstream examples, plus ``replay.json``).
    base_dir : path, optional
        Folder that relative paths in the config are relative to (default: the config file's
        folder, or the working directory for a config object).
    executor : {"local", "ray"}
        Run the (task, seed) groups in this process, or as Ray tasks.
    ray_address : str, optional
        Ray cluster to join; without it a local Ray instance is started and stopped.
    threads : int, optional
        Torch CPU threads in every process (default: torch's default here). Results are
        bit-identical for the same thread count.
    progress : callable, optional
        Called with a line of text as runs start.

    Returns
    -------
    dict
        The document written to ``out/replay.json`` (see :func:`~forgetmap.replay.summarise`).
    """
    from forgetmap.collect import check_executor

    check_executor(executor, ray_address)
    if not isinstance(config, ReplayConfig):
        config, folder = load_replay_config(config)
        base_dir = folder if base_dir is None else base_dir
    plan = plan_replay(config, Path(base_dir) if base_dir is not None else Path.cwd())
    out = Path(out)
    _refuse_other_experiment(out, config)
    store = existing_store(out)
    pending = store is None or any(not store.is_finished(u.id) for u in plan.runs)
    if pending:
        from forgetmap.replay._execute import execute

        store = execute(
            plan,
            out,
            executor=executor,
            ray_address=ray_address,
            threads=threads,
            progress=progress,
        )
    return summarise_store(store, plan)


def summarise_store(store: Any, plan: ReplayPlan) -> dict[str, Any]:
    """Read every finished run from the result store, summarise, and write ``replay.json``."""
    from forgetmap._jsonsafe import json_safe
    from forgetmap.store import atomic_write_json

    settings = plan.config.replay
    runs = []
    for run in plan.runs:
        summary = store.summary(run.id)
        if summary is None:
            continue
        runs.append(
            RunResult(
                run.task,
                run.seed,
                run.sampler,
                np.asarray(store.row(run.id), dtype=np.float64),
                float(summary["task_loss"]),
            )
        )
    doc = summarise(
        runs,
        plan.pool,
        plan.heldout,
        n_resamples=settings.bootstrap,
        confidence=settings.confidence,
        seed=plan.config.seed,
    )
    diagnostics = _prediction_quality(store, plan)
    if diagnostics:
        doc["prediction_spearman"] = diagnostics
    doc["settings"] = {
        "model": plan.config.model.id,
        "tasks": [task.id for task in plan.config.tasks],
        "seeds": list(settings.seeds),
        "samplers": settings.run_samplers(),
        "ratio": settings.ratio,
        "budget": plan.budget,
        "steps": plan.config.training.steps,
        "batch_size": plan.config.training.batch_size,
        "temperature": settings.temperature,
        "k": settings.k,
        "mode": settings.mode,
        "predictor": settings.predictor if settings.needs_store() else None,
        "probe": settings.probe,
        "store": str(plan.store_path) if plan.store_path else None,
        "n_examples": len(plan.upstream),
        "n_pool": int(plan.pool.size),
        "n_heldout": int(plan.heldout.size),
        "complete": len(runs) == len(plan.runs),
    }
    doc["path"] = str(store.path)
    doc = json_safe(doc)  # strict JSON: an undefined statistic (one run, no pairs) is null
    atomic_write_json(Path(store.path) / RESULT_FILE, doc)
    store.save_json("replay", doc)
    return doc


def _refuse_other_experiment(out: Path, config: ReplayConfig) -> None:
    store = existing_store(out)
    if store is None:
        if out.exists() and any(out.iterdir()):
            raise StoreConflictError(
                f"{str(out)!r} exists and is not a replay result directory; choose another "
                "result directory"
            )
        return
    stored = (store.config or {}).get("replay")
    if stored != config.to_dict():
        raise StoreConflictError(
            f"{str(out)!r} holds a replay experiment with a different config; choose another "
            "result directory, or delete it to start anew"
        )


def _prediction_quality(store: Any, plan: ReplayPlan) -> dict[str, float]:
    """Mean Spearman correlation of predicted and measured pool forgetting, per sampler."""
    values: dict[str, list[float]] = {}
    for run in plan.runs:
        summary = store.summary(run.id) or {}
        rho = summary.get("prediction_spearman")
        if rho is not None and rho == rho:
            values.setdefault(run.sampler, []).append(float(rho))
    return {name: float(np.mean(v)) for name, v in values.items()}
