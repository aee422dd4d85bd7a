"""Executors: where the jobs of a run execute. Both write the same store for the same config.

- ``local``: in this process, one job after another, with progress bars for every phase.
- ``ray``: each job is one Ray task (``num_gpus=1`` when the cluster has GPUs) that loads the
  model in its worker and writes its own row to the store, which every worker must reach: a
  shared filesystem, or an object-store URL (``s3://``, ``gs://``) on a multi-machine cluster.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from forgetmap.collect._work import Hooks, RunSpec, TaskJob, run_before, run_task
from forgetmap.errors import ExecutorError, ForgetmapError

EXECUTORS = ("local", "ray")

TaskDone = Callable[[str, dict[str, Any]], None]


class LocalExecutor:
    """Run every job in this process, in task order."""

    name = "local"

    def __init__(self, hooks: Hooks | None = None) -> None:
        self.hooks = hooks

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run_before(self, spec: RunSpec) -> None:
        run_before(spec, self.hooks)

    def run_tasks(
        self,
        spec: RunSpec,
        jobs: Sequence[TaskJob],
        before: Mapping[str, np.ndarray],
        done: TaskDone,
    ) -> None:
        for job in jobs:
            done(job.id, run_task(spec, job, before, self.hooks))


class RayExecutor:
    """Run each job as a Ray task on a cluster (``address``) or on a local Ray instance.

    Use it as a context manager: without an address, a local instance is started on entry
    with ``num_cpus`` CPUs and stopped on exit. Each task asks for ``spec.threads`` CPUs (at
    most what the largest node has) and, when the cluster has GPUs, one GPU.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self._session: _RaySession | None = None
        self._ray: Any = None

    def __enter__(self) -> RayExecutor:
        self._session = _RaySession(self.address, self.num_cpus)
        self._ray = self._session.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._session is not None:
            self._session.__exit__(*exc)
        self._session = self._ray = None

    def run_before(self, spec: RunSpec) -> None:
        ray = self._require()
        remote = ray.remote(**_resources(ray, spec))(run_before)
        _get(ray, remote.remote(spec))

    def run_tasks(
        self,
        spec: RunSpec,
        jobs: Sequence[TaskJob],
        before: Mapping[str, np.ndarray],
        done: TaskDone,
    ) -> None:
        if not jobs:
            return
        ray = self._require()
        remote = ray.remote(**_resources(ray, spec))(run_task)
        spec_ref, before_ref = ray.put(spec), ray.put(dict(before))
        pending = {remote.remote(spec_ref, job, before_ref): job.id for job in jobs}
        try:
            while pending:
                finished, _ = ray.wait(list(pending), num_returns=1)
                for ref in finished:
                    done(pending.pop(ref), _get(ray, ref))
        finally:
            for ref in pending:  # a failed task ends the run; stop the ones still queued
                ray.cancel(ref)

    def _require(self) -> Any:
        if self._ray is None:
            raise ExecutorError("the Ray executor is used outside its `with` block")
        return self._ray


def check_executor(name: str, ray_address: str | None = None) -> None:
    """Refuse an unknown executor, or a Ray address given to the local one."""
    if name not in EXECUTORS:
        raise ExecutorError(f"unknown executor {name!r}; use one of {', '.join(EXECUTORS)}")
    if name == "local" and ray_address is not None:
        raise ExecutorError(
            f"a Ray address ({ray_address!r}) needs the ray executor; the local one runs here"
        )


def make_executor(
    name: str, *, ray_address: str | None = None, hooks: Hooks | None = None
) -> LocalExecutor | RayExecutor:
    """The executor called ``name`` (``"local"`` or ``"ray"``)."""
    check_executor(name, ray_address)
    return LocalExecutor(hooks) if name == "local" else RayExecutor(ray_address)


class _RaySession:
    """Connect to Ray (or start a local instance) for a block; stop only what we started."""

    def __init__(self, address: str | None, num_cpus: int | None) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.started = False

    def __enter__(self) -> Any:
        try:
            import ray
        except ImportError:
            raise ExecutorError(
                "the ray executor needs Ray: pip install 'forgetmap[ray]'"
            ) from None
        if not ray.is_initialized():
            try:
                if self.address is None:
                    cpus = self.num_cpus or max(2, os.cpu_count() or 1)
                    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
                else:
                    ray.init(address=self.address, log_to_driver=False)
            except ConnectionError as error:
                raise ExecutorError(
                    f"cannot reach the Ray cluster at {self.address!r}: {error}"
                ) from None
            self.started = True
        return ray

    def __exit__(self, *exc: object) -> None:
        if self.started:
            import ray

            ray.shutdown()


def _resources(ray: Any, spec: RunSpec) -> dict[str, Any]:
    """One GPU per task on a cluster with GPUs; ``spec.threads`` CPUs, capped to fit a node."""
    total = ray.cluster_resources()
    largest = max(
        (node.get("Resources", {}).get("CPU", 0.0) for node in ray.nodes() if node.get("Alive")),
        default=total.get("CPU", 1.0),
    )
    options: dict[str, Any] = {"num_cpus": max(1, min(spec.threads, int(largest) or 1))}
    if total.get("GPU", 0) > 0:
        options["num_gpus"] = 1
    # A failed task is an error of the run, not something to retry silently.
    options["max_retries"] = 0
    return options


def _get(ray: Any, ref: Any) -> Any:
    """``ray.get`` that re-raises a task's own forgetmap error as itself."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, ForgetmapError):
            raise cause from None
        raise
