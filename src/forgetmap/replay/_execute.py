"""Execute the runs of a replay plan: in this process, or one Ray task per (task, seed) group.

The executors are those of ``forgetmap collect`` (the same Ray worker handling, resources and
error passing). The runs of one (task, seed) pair depend on its plain run (ground_truth,
offline predictions), so a group is the unit of scheduling; each run inside it is still written
as its own row, so a killed group resumes at its first unfinished run. Both executors give the
same result store for the same thread count.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from forgetmap.collect import check_executor
from forgetmap.replay._plan import ReplayPlan
from forgetmap.replay._results import existing_store, open_result_store

__all__ = ["default_threads", "execute"]


def default_threads() -> int:
    """Torch's CPU thread count in this process (the default of ``--threads``)."""
    import torch

    return int(torch.get_num_threads())


def execute(
    plan: ReplayPlan,
    out: Path,
    *,
    executor: str = "local",
    ray_address: str | None = None,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Any:
    """Run every unfinished run of ``plan`` into the result store in ``out``; returns the store."""
    from forgetmap.collect._work import configure_process
    from forgetmap.replay._runs import ReplayWorker, load_before, run_group

    check_executor(executor, ray_address)
    threads = threads or default_threads()
    configure_process(threads)
    # The base model is loaded here once: its before-scores are shared by every run.
    existing = existing_store(out)
    worker = ReplayWorker(plan, before=None if existing is None else load_before(existing))
    n_tokens = [int(e.scored.sum()) for e in worker.score_upstream]
    store = open_result_store(plan, out, n_tokens)
    if not store.has_before():
        store.write_before({"nll": worker.before})
    worker.before = load_before(store)
    groups = [
        (task, seed)
        for task, seed in plan.groups()
        if any(not store.is_finished(u.id) for u in plan.runs if u.task == task and u.seed == seed)
    ]
    if executor == "local":
        for task, seed in groups:
            run_group(worker, task, seed, store, progress=progress)
        return store
    del worker  # Ray workers load their own copy
    _run_on_ray(plan, out, groups, ray_address, threads, progress)
    return store


def _run_on_ray(
    plan: ReplayPlan,
    out: Path,
    groups: list[tuple[str, int]],
    address: str | None,
    threads: int,
    progress: Callable[[str], None] | None,
) -> None:
    from forgetmap.collect._executors import _get, _RaySession, _resources

    if not groups:
        return
    with _RaySession(address, None) as ray:
        remote = ray.remote(**_resources(ray, SimpleNamespace(threads=threads)))(_ray_group)
        plan_ref = ray.put(plan)
        pending = {
            remote.remote(plan_ref, str(out), task, seed, threads): f"{task}/seed{seed}"
            for task, seed in groups
        }
        try:
            while pending:
                finished, _ = ray.wait(list(pending), num_returns=1)
                for ref in finished:
                    label = pending.pop(ref)
                    _get(ray, ref)
                    if progress is not None:
                        progress(f"{label} (all samplers, on Ray)")
        finally:
            for ref in pending:  # a failed group ends the experiment; stop the queued ones
                ray.cancel(ref)


def _ray_group(plan: ReplayPlan, out: str, task: str, seed: int, threads: int) -> None:
    """A Ray task: load the model in the worker and run one (task, seed) group."""
    from forgetmap.collect._work import configure_process
    from forgetmap.replay._runs import ReplayWorker, load_before, run_group
    from forgetmap.store import open_store

    configure_process(threads)
    store = open_store(out)
    worker = ReplayWorker(plan, before=load_before(store))
    run_group(worker, task, seed, store)
