"""Plan a run: every example of every task and the N upstream examples, loaded and checked.

Planning touches no model, so every data problem (a bad JSONL line, an empty task source, N
larger than a source, duplicate ids) and every checkpoint problem (a missing directory, a folder
without a checkpoint, a hub id that cannot be had, a checkpoint trained otherwise than the
config says) is reported before anything is loaded or trained.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from forgetmap.collect._checkpoints import CHECKPOINT_GROUP, find_checkpoint
from forgetmap.config import ExperimentConfig
from forgetmap.data import Example, describe_source, select_task, select_upstream


@dataclass(frozen=True)
class TaskPlan:
    """One task of a run: its id, family, source description and training examples.

    A task given as a checkpoint has ``checkpoint`` set (its local directory; as the config
    names it when planned with ``checkpoints=False``) and is scored, not trained; its examples
    are its source's (none without a source), kept for the ``task_texts`` artifact.
    """

    id: str
    group: str
    source: str
    examples: tuple[Example, ...]
    seed: int  # the seed of this task's training-example order
    checkpoint: str | None = None

    def texts(self) -> list[str]:
        """Display text of each training example (the ``task_texts`` artifact)."""
        return [example.display_text for example in self.examples]


@dataclass(frozen=True)
class RunPlan:
    """What a run measures: the config, the upstream examples (columns) and tasks (rows)."""

    config: ExperimentConfig
    upstream: tuple[Example, ...]
    tasks: tuple[TaskPlan, ...]
    # One line per source that left something out (a files source's skipped binary or
    # unreadable files), for the command to show before the run starts.
    notes: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_tasks, n_examples)``."""
        return len(self.tasks), len(self.upstream)

    def task_texts(self) -> dict[str, list[str]]:
        """``{task id: [display text of each training example]}``."""
        return {task.id: task.texts() for task in self.tasks}


def plan_run(
    config: ExperimentConfig, base_dir: str | Path = ".", *, checkpoints: bool = True
) -> RunPlan:
    """Load and sample every example the run needs; relative paths resolve against ``base_dir``.

    With ``checkpoints`` (what collect does), each checkpoint task's checkpoint is found and
    hashed, and the plan's config records the hash (``checkpoint_sha256``), so that the stored
    config fingerprints the checkpoint's files. Without, checkpoints are left as the config
    names them: what re-planning a stored run or fine-tuning another task needs, since neither
    reads them (and they may have moved since).

    Raises the data layer's errors (:class:`~forgetmap.errors.DataFormatError`,
    :class:`~forgetmap.errors.DataSourceError`, ...) and the checkpoint errors of
    :func:`~forgetmap.collect._checkpoints.find_checkpoint` for any bad input.
    """
    notes: list[str] = []
    upstream = select_upstream(config.upstream, base_dir, seed=config.seed, notes=notes)
    tasks = []
    configs = []
    for index, task in enumerate(config.tasks):
        examples = []
        if task.source is not None:
            examples = select_task(task, base_dir, seed=config.seed, index=index, notes=notes)
        checkpoint = task.checkpoint
        if checkpoint is not None and checkpoints:
            directory, digest = find_checkpoint(config, index, base_dir)
            checkpoint = str(directory)
            task = task.model_copy(update={"checkpoint_sha256": digest})
        configs.append(task)
        default_group = task.source.kind if task.source is not None else CHECKPOINT_GROUP
        tasks.append(
            TaskPlan(
                id=task.id,
                group=task.group if task.group is not None else default_group,
                source=describe_source(task.source) if task.source is not None else "",
                examples=tuple(examples),
                seed=task_seed(config.seed, task.id),
                checkpoint=checkpoint,
            )
        )
    if checkpoints:
        config = config.model_copy(update={"tasks": configs})
    return RunPlan(config=config, upstream=tuple(upstream), tasks=tuple(tasks), notes=tuple(notes))


def task_seed(seed: int, task_id: str) -> int:
    """The seed of a task's training stream: from the run's seed and the task id, so that a task
    trains the same whichever executor runs it, in whatever order, and after a resume."""
    digest = hashlib.sha256(f"{seed}\0{task_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little")
