"""Plan a replay experiment: every check that can fail, before any model is loaded.

The plan fixes the upstream examples, each task's examples, the replay pool and the held-out
set, the replay budget and the list of runs (task × seed × sampler). Everything is derived from
the config alone, so a resumed run plans exactly the same experiment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from forgetmap.errors import ConfigError
from forgetmap.replay._config import ReplayConfig
from forgetmap.replay._stream import replay_budget, split_pool

__all__ = ["ReplayPlan", "ReplayRun", "plan_replay", "run_id"]


@dataclass(frozen=True)
class ReplayRun:
    """One fine-tuning run of the experiment."""

    task: str
    seed: int
    sampler: str

    @property
    def id(self) -> str:
        return run_id(self.task, self.seed, self.sampler)


def run_id(task: str, seed: int, sampler: str) -> str:
    """The run's row id in the result store: ``"<task>/seed<seed>/<sampler>"``."""
    return f"{task}/seed{seed}/{sampler}"


@dataclass(frozen=True)
class ReplayPlan:
    """What the experiment runs.

    Attributes
    ----------
    upstream : list of Example, length n_examples
    tasks : {task id: list of Example}
    pool, heldout : ndarray of int64
        Column indices (into ``upstream``) of the replay pool and the held-out set; disjoint.
    budget : int
        Replay examples per run (0 for ``none``): ratio × steps × batch size.
    runs : list of ReplayRun
        In run order: by task, then seed, then sampler (the plain run first).
    store_path : Path or None
        The predictions store.
    """

    config: ReplayConfig
    base_dir: Path
    upstream: list[Any]
    tasks: dict[str, list[Any]]
    pool: np.ndarray
    heldout: np.ndarray
    budget: int
    runs: list[ReplayRun]
    store_path: Path | None

    @property
    def example_ids(self) -> list[str]:
        return [example.id for example in self.upstream]

    def groups(self) -> list[tuple[str, int]]:
        """The (task, seed) pairs; each one's runs depend on its plain run, so they run together."""
        seen: list[tuple[str, int]] = []
        for run in self.runs:
            if (run.task, run.seed) not in seen:
                seen.append((run.task, run.seed))
        return seen


def plan_replay(config: ReplayConfig, base_dir: str | Path = ".") -> ReplayPlan:
    """Check the config against its data and fix the experiment (no model is loaded).

    Raises :class:`~forgetmap.errors.ForgetmapError` subclasses for: a fractional replay budget,
    an empty or overlapping held-out set, k not below the pool size, an unreadable data source,
    and a predictions store that is missing, built with another base model or lacking the
    upstream examples.
    """
    from forgetmap.data import select_task, select_upstream

    base_dir = Path(base_dir)
    settings = config.replay
    budget = replay_budget(config.training.steps * config.training.batch_size, settings.ratio)
    upstream = select_upstream(config.upstream, base_dir, seed=config.seed)
    tasks = {
        task.id: select_task(task, base_dir, seed=config.seed, index=index)
        for index, task in enumerate(config.tasks)
    }
    pool, heldout = split_pool(
        [example.id for example in upstream],
        heldout=settings.heldout,
        heldout_ids=settings.heldout_ids,
        pool_ids=settings.pool_ids,
        seed=settings.split_seed,
    )
    samplers = settings.run_samplers()
    if settings.needs_store() and settings.k >= pool.size:
        raise ConfigError(
            f"replay.k = {settings.k} probes must be fewer than the {pool.size} examples of the "
            "replay pool"
        )
    store_path = None
    if settings.needs_store():
        _check_predictor(settings.predictor)
        if settings.store is None:
            raise ConfigError(
                "the predicted samplers need replay.store: a collected store of other tasks "
                "with the same model and upstream examples"
            )
        store_path = (base_dir / settings.store).resolve()
        from forgetmap.replay._predictor import check_store

        check_store(store_path, config, [example.id for example in upstream], pool)
    runs = [
        ReplayRun(task.id, seed, sampler)
        for task in config.tasks
        for seed in settings.seeds
        for sampler in samplers
    ]
    return ReplayPlan(
        config=config,
        base_dir=base_dir,
        upstream=upstream,
        tasks=tasks,
        pool=pool,
        heldout=heldout,
        budget=budget,
        runs=runs,
        store_path=store_path,
    )


def _check_predictor(name: str) -> None:
    from forgetmap.predict._registry import COMPLETION

    usable = [m for m in COMPLETION if not m.startswith("logistic")]
    if name not in usable:
        raise ConfigError(
            f"replay.predictor {name!r} is not a completion method for NLL forgetting; "
            f"choose from {', '.join(usable)}"
        )
