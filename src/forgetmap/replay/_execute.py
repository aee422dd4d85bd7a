"""Execute the runs of a replay plan: in this process, or one Ray task per (task, seed) group.

The runs of one (task, seed) pair depend on its plain run (ground_truth, offline predictions),
so a group is the unit of scheduling; each run inside it is still written as its own row, so a
killed group resumes at its first unfinished run. Both executors give the same result store.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from forgetmap.errors import ConfigError
from forgetmap.replay._plan import ReplayPlan

__all__ = ["EXECUTORS", "execute"]

EXECUTORS = ("local", "ray")


def execute(
    plan: ReplayPlan,
    out: Path,
    *,
    executor: str = "local",
    ray_address: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Any:
    """Run every unfinished run of ``plan`` into the result store in ``out``; returns the store."""
    from forgetmap.replay._experiment import open_result_store
    from forgetmap.replay._runs import Session, load_before, run_group

    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose local or ray")
    # The base model is loaded here once: its before-scores are shared by every run.
    existing = _existing_before(out)
    session = Session(plan, before=existing)
    n_tokens = [int(e.scored.sum()) for e in session.score_upstream]
    store = open_result_store(plan, out, n_tokens)
    if not store.has_before():
        store.write_before({"nll": session.before})
    before = load_before(store)
    session.before = before
    groups = [
        (task, seed)
        for task, seed in plan.groups()
        if any(not store.is_finished(u.id) for u in plan.units if u.task == task and u.seed == seed)
    ]
    if executor == "local":
        for task, seed in groups:
            run_group(session, task, seed, store, progress=progress)
        return store
    _run_on_ray(plan, out, groups, ray_address, progress)
    return store


def _existing_before(out: Path) -> Any:
    from forgetmap.replay._experiment import _existing
    from forgetmap.replay._runs import load_before

    store = _existing(out)
    return None if store is None else load_before(store)


def _run_on_ray(
    plan: ReplayPlan,
    out: Path,
    groups: list[tuple[str, int]],
    address: str | None,
    progress: Callable[[str], None] | None,
) -> None:
    import ray

    started = False
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        started = address is None
    try:
        gpus = ray.cluster_resources().get("GPU", 0)
        remote = ray.remote(num_gpus=1 if gpus else 0)(_ray_group)
        payload = plan.config.to_dict()
        pending = [
            remote.remote(payload, str(plan.base_dir), str(out), task, seed)
            for task, seed in groups
        ]
        for task, seed in groups:
            if progress is not None:
                progress(f"{task}/seed{seed} (ray)")
        ray.get(pending)
    finally:
        if started:
            ray.shutdown()


def _ray_group(config: dict, base_dir: str, out: str, task: str, seed: int) -> None:
    """A Ray task: rebuild the plan from the config, load the model, run one group."""
    from forgetmap.replay._config import parse_replay_config
    from forgetmap.replay._plan import plan_replay
    from forgetmap.replay._runs import Session, load_before, run_group
    from forgetmap.store import open_store

    plan = plan_replay(parse_replay_config(config), Path(base_dir))
    store = open_store(out)
    session = Session(plan, before=load_before(store))
    run_group(session, task, seed, store)
