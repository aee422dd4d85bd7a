"""Collect a forgetting matrix: plan, check everything, then score before and run every task.

Every check of user input happens in :func:`prepare_run`, before any fine-tuning: the config,
the data, the checkpoints of tasks given as checkpoints, the model (and that each checkpoint
fits it), the run directory. :meth:`PreparedRun.run` then only computes. A rerun of the same
config into the same directory skips the before-scores and the finished rows.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forgetmap._outputs import check_output_dir
from forgetmap.collect._checkpoints import check_fits
from forgetmap.collect._executors import make_executor
from forgetmap.collect._plan import RunPlan, plan_run
from forgetmap.collect._progress import RunProgress
from forgetmap.collect._work import (
    RunSpec,
    TaskJob,
    configure_process,
    model_for,
    torch_threads_kept,
)
from forgetmap.config import ExperimentConfig
from forgetmap.errors import (
    DataSourceError,
    ExecutorError,
    OutputPathError,
    StoreConflictError,
    StoreNotFoundError,
)
from forgetmap.store import (
    ForgettingStore,
    StoreLocation,
    StorePath,
    create_store,
    open_store,
    store_location,
)
from forgetmap.store._claims import CLAIM_SUFFIX, DEFAULT_CLAIM_TIMEOUT, Claims
from forgetmap.store._layout import ROWS_DIR

if TYPE_CHECKING:
    from forgetmap.lm import LoadedModel

TASK_TEXTS = "task_texts"
"""Artifact written by collect: each task's example texts, checked when a run resumes."""
DATA_DIR = "data_dir"
"""Artifact written by collect: the folder the config's relative data paths resolved against."""
BEFORE_CLAIM = "before.claim"
POLL_SECONDS = 1.0

Note = Callable[[str], None]


@dataclass
class PreparedRun:
    """A checked run, ready to compute: its plan, store, encoded data and executor."""

    plan: RunPlan
    store: ForgettingStore
    spec: RunSpec
    jobs: list[TaskJob]
    executor: str
    ray_address: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    repairs: list[str] = field(default_factory=list)
    claim_timeout: float = DEFAULT_CLAIM_TIMEOUT

    @property
    def pending(self) -> list[str]:
        """Ids of the tasks still to run, in task order."""
        finished = set(self.store.finished())
        return [job.id for job in self.jobs if job.id not in finished]

    def describe(self) -> dict[str, Any]:
        """What the run will do, as a JSON-ready dict."""
        config = self.plan.config
        m, n = self.plan.shape
        return {
            "path": self.store.url,
            "model": config.model.id,
            "method": config.training.method,
            "steps": config.training.steps,
            "metrics": list(config.scoring.metrics),
            "shape": [m, n],
            "checkpoints": sum(job.checkpoint is not None for job in self.jobs),
            "executor": self.executor,
            "threads": self.spec.threads,
            "finished": m - len(self.pending),
            "before_done": self.store.has_before(),
            "notes": list(self.plan.notes) + list(self.repairs),
        }

    def run(self, progress: RunProgress | None = None) -> dict[str, Any]:
        """Score the base model (unless stored), run every unfinished task, write the rows.

        Several processes may run the same config into one directory at once: each claims a row
        before computing it (see :mod:`forgetmap.store._claims`) and skips rows claimed by
        others, then waits for those to finish, taking over any whose claimant died. Returns the
        run's summary (see :func:`run_summary`); ``ran`` lists the rows computed here and
        ``elsewhere`` those finished meanwhile by other processes.
        """
        start = time.perf_counter()
        hooks = progress.hooks if progress is not None else None
        note: Note = progress.note if progress is not None else (lambda text: None)
        executor = make_executor(self.executor, ray_address=self.ray_address, hooks=hooks)
        pending = set(self.pending)
        jobs = [job for job in self.jobs if job.id in pending]
        ran: list[str] = []
        elsewhere: list[str] = []

        def done(task_id: str, summary: dict[str, Any]) -> None:
            ran.append(task_id)
            if progress is not None:
                progress.task_done(task_id, summary)

        if progress is not None:
            progress.start_tasks(len(self.jobs), len(self.jobs) - len(jobs))
        if jobs or not self.store.has_before():
            with Claims(self.claim_timeout) as claims, executor:
                self._before(executor, claims, note)
                before = {metric: self.store.before(metric) for metric in self.store.metrics}
                waiting = self._run_claimed(executor, claims, jobs, before, done, elsewhere)
                if waiting:
                    note(_waiting_line(self.store, claims, waiting))
                while waiting:
                    time.sleep(POLL_SECONDS)
                    waiting = self._run_claimed(executor, claims, waiting, before, done, elsewhere)
        document = run_summary(self.store)
        document.update(
            executor=self.executor,
            ran=ran,
            elsewhere=elsewhere,
            skipped=len(self.jobs) - len(jobs),
            seconds=round(time.perf_counter() - start, 3),
        )
        return document

    def _before(self, executor: Any, claims: Claims, note: Note) -> None:
        """Score the base model unless stored; one process does it, the others wait for it."""
        claim = self.store.path / BEFORE_CLAIM
        told = False
        while not self.store.has_before():
            if claims.acquire(claim):
                try:
                    if not self.store.has_before():
                        executor.run_before(self.spec)
                finally:
                    claims.release(claim)
                return
            if not told:
                note("the before-scores are being computed by another process; waiting for them")
                told = True
            time.sleep(POLL_SECONDS / 4)

    def _run_claimed(
        self,
        executor: Any,
        claims: Claims,
        jobs: list[TaskJob],
        before: dict[str, Any],
        done: Callable[[str, dict[str, Any]], None],
        elsewhere: list[str],
    ) -> list[TaskJob]:
        """Run the jobs this process can claim; returns those claimed by other processes.

        The local executor claims one row at a time, right before computing it, so processes
        interleave; the Ray executor claims all it can up front and keeps them while it runs.
        """
        waiting: list[TaskJob] = []
        mine: list[TaskJob] = []
        for job in jobs:
            if self.store.is_finished(job.id):
                elsewhere.append(job.id)
                continue
            if not claims.acquire(_claim_path(self.store, job.id)):
                waiting.append(job)
                continue
            if self.store.is_finished(job.id):  # finished just before we claimed it
                claims.release(_claim_path(self.store, job.id))
                elsewhere.append(job.id)
                continue
            if executor.name == "local":
                try:
                    executor.run_tasks(self.spec, [job], before, done)
                finally:
                    claims.release(_claim_path(self.store, job.id))
            else:
                mine.append(job)
        if mine:
            try:
                executor.run_tasks(self.spec, mine, before, done)
            finally:
                for job in mine:
                    claims.release(_claim_path(self.store, job.id))
        return waiting


def prepare_run(
    config: ExperimentConfig,
    out: str | os.PathLike[str],
    *,
    base_dir: str | os.PathLike[str] = ".",
    executor: str = "local",
    ray_address: str | None = None,
    threads: int | None = None,
) -> PreparedRun:
    """Check everything and create (or reopen) the run's store; no fine-tuning happens here.

    Parameters
    ----------
    config : ExperimentConfig
    out : path-like
        Run directory: new, empty, or holding a run of this very config (resume).
    base_dir : path-like
        Folder that relative data paths in the config are resolved against.
    executor : {"local", "ray"}
    ray_address : str, optional
        Address of a Ray cluster; without it the Ray executor starts a local instance.
    threads : int, optional
        Torch CPU threads for every process of the run (default: torch's default here).

    Raises
    ------
    ForgetmapError
        Bad data, an unknown model, a checkpoint task whose checkpoint is missing, changed or
        not fine-tuned from the model, or a run directory that holds another run.
    """
    make_executor(executor, ray_address=ray_address)  # reject bad executor options first
    location = check_out(out)
    if executor == "ray" and location.process_local:
        raise ExecutorError(
            f"run directory {location.url!r} lives in this process only; the ray executor "
            "needs one every worker reaches: a shared folder or an object-store URL (s3://, gs://)"
        )
    plan = plan_run(config, base_dir)
    threads = threads or _default_threads()
    spec_fields = {
        "model": config.model.model_dump(mode="json"),
        "training": config.training.model_dump(mode="json"),
        "scoring": config.scoring.model_dump(mode="json"),
        "threads": threads,
    }
    tokenizer = _tokenizer(plan, spec_fields, executor)
    upstream_encoded, task_encoded = _encode(plan, tokenizer)
    store = _open_store(plan, location.url, upstream_encoded)
    repairs = repair_damaged(store)
    record_data_dir(store, base_dir)
    spec = RunSpec(
        store_path=store.url,
        upstream=plan.upstream,
        upstream_encoded=tuple(upstream_encoded),
        **spec_fields,
    )
    jobs = [
        TaskJob(
            id=task.id,
            encoded=tuple(task_encoded.get(task.id, ())),
            seed=task.seed,
            checkpoint=task.checkpoint,
        )
        for task in plan.tasks
    ]
    return PreparedRun(plan, store, spec, jobs, executor, ray_address, repairs=repairs)


def collect(
    config: ExperimentConfig,
    out: str | os.PathLike[str],
    *,
    base_dir: str | os.PathLike[str] = ".",
    executor: str = "local",
    ray_address: str | None = None,
    threads: int | None = None,
    progress: RunProgress | None = None,
) -> dict[str, Any]:
    """Measure the forgetting matrix of ``config`` into ``out``: :func:`prepare_run`, then run.

    Returns the run's summary: shape, the tasks run and skipped, and per task the training
    losses, mean forgetting and timings.
    """
    with torch_threads_kept():
        prepared = prepare_run(
            config,
            out,
            base_dir=base_dir,
            executor=executor,
            ray_address=ray_address,
            threads=threads,
        )
        return prepared.run(progress)


def run_summary(store: ForgettingStore) -> dict[str, Any]:
    """Per-task numbers of a collected store: losses, forgetting and timings of finished rows."""
    values = store.forgetting()  # (n_tasks, n_examples)
    finished = store.finished_mask()
    groups = store.tasks_table().get("group")
    tasks = []
    for index, task_id in enumerate(store.task_ids):
        summary = store.summary(index) or {}
        row = values[index].astype(np.float64)
        measured = row[np.isfinite(row)]
        tasks.append(
            {
                "id": task_id,
                "group": None if groups is None else str(groups.iloc[index]),
                "finished": bool(finished[index]),
                "first_loss": summary.get("first_loss"),
                "last_loss": summary.get("last_loss"),
                "mean_forgetting": float(measured.mean()) if measured.size else None,
                "share_forgotten": float((measured > 0).mean()) if measured.size else None,
                "train_seconds": summary.get("train_seconds"),
                "score_seconds": summary.get("score_seconds"),
                "checkpoint_kind": summary.get("checkpoint_kind"),  # None: trained here
            }
        )
    before = store.before().astype(np.float64)
    return {
        "path": store.url,
        "shape": list(store.shape),
        "metrics": list(store.metrics),
        "finished": int(finished.sum()),
        "before_mean_nll": float(np.nanmean(before)) if np.isfinite(before).any() else None,
        "tasks": tasks,
    }


def check_out(out: str | os.PathLike[str]) -> StoreLocation:
    """Refuse a run directory that is a file or cannot be written, before any model loads.

    ``out`` may be a URL (``s3://bucket/run``): its protocol's package must be installed.
    """
    location = store_location(out)
    if location.local_path is not None:
        check_output_dir(location.local_path, noun="run directory")
    elif location.is_file():
        raise OutputPathError(
            f"{location.url!r} is a file, not a run directory; give a new or empty run directory"
        )
    return location


def load_base_model(config: ExperimentConfig, *, device: str | None = None) -> LoadedModel:
    """The run's base model, as its config names it (``device`` overrides the config's)."""
    from forgetmap.lm import load_model

    return load_model(
        config.model.id,
        dtype=config.model.dtype,
        device=device or config.model.device,
        trust_remote_code=config.model.trust_remote_code,
    )


def record_data_dir(store: ForgettingStore, base_dir: str | os.PathLike[str]) -> None:
    """Remember where the config's relative data paths resolved when the run was collected."""
    store.save_json(DATA_DIR, {"path": str(Path(base_dir).resolve())})


def data_dir(store: ForgettingStore) -> Path:
    """The folder recorded by :func:`record_data_dir` if it still exists here, else ``.``."""
    recorded = store.load_json(DATA_DIR)
    if isinstance(recorded, dict) and isinstance(recorded.get("path"), str):
        path = Path(recorded["path"])
        if path.is_dir():
            return path
    return Path(".")


def repair_damaged(store: ForgettingStore) -> list[str]:
    """Mark damaged finished rows (and damaged before-scores) unfinished; one line for each."""
    lines = []
    problem = store.before_damage()
    if problem is not None:
        store.unmark_before()
        reason = _reason(store, problem)
        lines.append(f"the before-scores were damaged ({reason}); re-computing them")
    for index, problem in store.damaged_rows().items():
        store.unmark_row(index)
        task = store.task_ids[index]
        lines.append(f"row {task!r} was damaged ({_reason(store, problem)}); re-running it")
    return lines


def _reason(store: ForgettingStore, problem: str) -> str:
    """The part of a damage message before its advice, with paths inside the run directory."""
    reason = problem.split("; ", 1)[0].removeprefix("store file ")
    return store.location.strip_root(reason)


def _claim_path(store: ForgettingStore, task_id: str) -> Path | StorePath:
    name = f"{store.task_index(task_id):06d}{CLAIM_SUFFIX}"
    return store.path / ROWS_DIR / name


def _waiting_line(store: ForgettingStore, claims: Claims, waiting: list[TaskJob]) -> str:
    holders = []
    for job in waiting[:5]:
        holder = claims.holder(_claim_path(store, job.id)) or {}
        holders.append(f"{job.id} (pid {holder.get('pid', '?')} on {holder.get('host', '?')})")
    more = f" and {len(waiting) - 5} more" if len(waiting) > 5 else ""
    return (
        f"waiting for {len(waiting)} rows being computed by other processes: "
        f"{', '.join(holders)}{more}"
    )


# ---------------------------------------------------------------------- helpers
def _default_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _tokenizer(plan: RunPlan, spec_fields: dict[str, Any], executor: str) -> Any:
    """The run's tokenizer, from the model loaded here (which fails early on an unknown model),
    once every checkpoint task's checkpoint is known to fit that model.

    The local executor keeps that model for its jobs. Under Ray the jobs load their own copy
    in their workers, so this one is loaded on the CPU just to tokenise and check, then dropped.
    """
    if executor == "local":
        probe = RunSpec(store_path="", upstream=(), upstream_encoded=(), **spec_fields)
        loaded = model_for(probe)
    else:
        configure_process(spec_fields["threads"])
        loaded = load_base_model(plan.config, device="cpu")
    check_fits(plan, loaded.model)
    return loaded.tokenizer


def _encode(plan: RunPlan, tokenizer: Any) -> tuple[list[Any], dict[str, list[Any]]]:
    from forgetmap.lm import encode_examples

    config = plan.config
    upstream = encode_examples(tokenizer, plan.upstream, max_length=config.scoring.max_length)
    for example in upstream:
        if example.n_scored == 0:
            raise DataSourceError(
                f"upstream example {example.id!r} has no token to score within "
                f"scoring.max_length = {config.scoring.max_length}"
            )
    tasks = {}
    for task in plan.tasks:
        if task.checkpoint is not None:
            continue  # scored, not trained: its examples are only kept as texts
        encoded = encode_examples(tokenizer, task.examples, max_length=config.training.max_length)
        if sum(example.n_scored for example in encoded) == 0:
            raise DataSourceError(
                f"task {task.id!r} has no token to train on within training.max_length = "
                f"{config.training.max_length}"
            )
        tasks[task.id] = encoded
    return upstream, tasks


def _open_store(plan: RunPlan, out: str, upstream_encoded: list[Any]) -> ForgettingStore:
    """Create the run's store, or reopen it to resume when it holds this very run."""
    config = plan.config
    stored_config = config.to_dict()
    task_table: dict[str, list[Any]] = {
        "group": [task.group for task in plan.tasks],
        "source": [task.source for task in plan.tasks],
        "n_examples": [len(task.examples) for task in plan.tasks],
    }
    if any(task.checkpoint is not None for task in plan.tasks):
        task_table["checkpoint"] = [task.checkpoint or "" for task in plan.tasks]
    try:
        store = create_store(
            out,
            task_ids=[task.id for task in plan.tasks],
            example_ids=[example.id for example in plan.upstream],
            metrics=config.scoring.metrics,
            task_table=task_table,
            example_table={
                "source": [example.source for example in plan.upstream],
                "text": [example.display_text for example in plan.upstream],
                "kind": [example.kind for example in plan.upstream],
                "n_tokens": [example.n_scored for example in upstream_encoded],
            },
            config=stored_config,
            with_scores=True,
            kind="collected",
        )
    except StoreConflictError:
        raise StoreConflictError(_conflict_message(out, stored_config)) from None
    _check_same_data(store, plan, out)
    return store


def _conflict_message(out: str, config: dict[str, Any]) -> str:
    try:
        existing = open_store(out).config
    except StoreNotFoundError:
        existing = None
    if existing is None:
        what = "something else"
    else:
        changed = _changed_keys(existing, config)
        what = (
            f"a run of another config (changed: {', '.join(changed[:5])})"
            if changed
            else "a run of this config over other examples or tasks (the data changed)"
        )
    return (
        f"{str(out)!r} holds {what}; to start anew, give another run directory or delete "
        f"{str(out)!r}"
    )


def _check_same_data(store: ForgettingStore, plan: RunPlan, out: str) -> None:
    """A resumed run must see the same texts: ids alone could hide edited data files."""
    texts = plan.task_texts()
    stored_texts = store.load_json(TASK_TEXTS)
    examples = store.examples()
    same = list(examples["text"]) == [example.display_text for example in plan.upstream] and (
        stored_texts is None or stored_texts == texts
    )
    if not same:
        raise StoreConflictError(
            f"{str(out)!r} holds a run of this config whose example texts differ from the data "
            f"now (a data file changed); to start anew, give another run directory or delete "
            f"{str(out)!r}"
        )
    if stored_texts is None:
        store.save_json(TASK_TEXTS, texts)


def _changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        changed: list[str] = []
        for key in keys:
            changed += _changed_keys(old.get(key), new.get(key), f"{prefix}{key}.")
        return changed
    if json.dumps(old, sort_keys=True) != json.dumps(new, sort_keys=True):
        return [prefix.rstrip(".") or "config"]
    return []
