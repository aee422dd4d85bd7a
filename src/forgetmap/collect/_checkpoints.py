"""Tasks given as fine-tuned checkpoints: found, hashed and checked while a run is planned.

A checkpoint task is scored, never trained. Everything about its checkpoint that can be told
from the files is checked before any model is loaded: that the path or hub id leads to a
checkpoint, that it still has the ``checkpoint_sha256`` the config pins, and that a checkpoint
made by ``forgetmap finetune`` was fine-tuned with the config's ``[training]`` (a store records
one ``[training]`` for all its rows). Once the base model is loaded, and before anything is
scored or written, :func:`check_fits` refuses a checkpoint of another model exactly as
``forgetmap forecast`` does (the checks live in :mod:`forgetmap.lm`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgetmap.config import ExperimentConfig, parse_config
from forgetmap.errors import ConfigError, ForgetmapError, InputFileNotFoundError
from forgetmap.lm._checkpoint_files import (
    ADAPTER_CONFIG,
    MODEL_CONFIG,
    RECORD,
    check_checkpoint,
    checkpoint_digest,
    is_checkpoint_dir,
    resolve_checkpoint,
)

if TYPE_CHECKING:
    from forgetmap.collect._plan import RunPlan

__all__ = ["CHECKPOINT_GROUP", "check_fits", "checkpoint_tasks", "find_checkpoint"]

CHECKPOINT_GROUP = "checkpoint"
"""The group of a checkpoint task that names neither a group nor a source."""


def find_checkpoint(
    config: ExperimentConfig, index: int, base_dir: str | os.PathLike[str] = "."
) -> tuple[Path, str]:
    """The local directory and digest of task ``index``'s checkpoint, checked against the config.

    Raises
    ------
    InputFileNotFoundError
        No checkpoint at that path, a folder without one, or a hub id not cached while the hub
        is unreachable.
    ConfigError
        The files differ from the pinned ``checkpoint_sha256``, or its ``forgetmap finetune``
        record shows other training settings than the config's.
    """
    task = config.tasks[index]
    assert task.checkpoint is not None
    where = _where(index, task.id)
    try:
        directory = resolve_checkpoint(task.checkpoint, base_dir)
    except ForgetmapError as error:
        raise type(error)(f"{where}: {error}") from None
    digest = checkpoint_digest(directory)
    if task.checkpoint_sha256 is not None and task.checkpoint_sha256 != digest:
        raise ConfigError(
            f"{where}: checkpoint {str(directory)!r} has sha256 {digest[:12]}…, but the config "
            f"pins {task.checkpoint_sha256[:12]}…: its files changed; restore them or update "
            "checkpoint_sha256"
        )
    _check_record(directory, config, where)
    return directory, digest


def checkpoint_tasks(
    config: ExperimentConfig, directory: str | os.PathLike[str]
) -> ExperimentConfig:
    """``config`` with its tasks replaced by the checkpoints in the subfolders of ``directory``.

    Each subfolder holding a checkpoint (a LoRA adapter or a full model, at its top level)
    becomes a task named after the folder, in name order; a config task of the same id lends it
    its ``source`` and ``group``. Hidden folders (a half-written checkpoint's temporary folder)
    and folders without a checkpoint are passed over.

    Raises
    ------
    InputFileNotFoundError
        ``directory`` is not a directory.
    ConfigError
        It has no subfolder holding a checkpoint.
    """
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise InputFileNotFoundError(f"checkpoint folder {str(directory)!r} is not a directory")
    found = sorted(
        (
            child
            for child in root.iterdir()
            if child.is_dir() and not child.name.startswith(".") and is_checkpoint_dir(child)
        ),
        key=lambda child: child.name,
    )
    if not found:
        itself = (
            "; it is a checkpoint itself: name the folder that holds it, or give it to a task as "
            "checkpoint"
            if is_checkpoint_dir(root)
            else ""
        )
        raise ConfigError(
            f"checkpoint folder {str(directory)!r} has no subfolder holding a checkpoint (a LoRA "
            f"adapter's {ADAPTER_CONFIG} or a full model's {MODEL_CONFIG}){itself}"
        )
    lenders = {task.id: task for task in config.tasks}
    tasks = []
    for child in found:
        task: dict[str, Any] = {"id": child.name, "checkpoint": str(child.resolve())}
        lender = lenders.get(child.name)
        if lender is not None:
            task["group"] = lender.group
            if lender.source is not None:
                task["source"] = lender.source.model_dump(mode="json")
        tasks.append(task)
    document = {**config.to_dict(), "tasks": tasks}
    return parse_config(document, origin=f"checkpoints in {str(directory)!r}")


def check_fits(plan: RunPlan, base: Any) -> dict[str, str]:
    """Refuse any checkpoint task whose checkpoint was not fine-tuned from ``base``.

    Parameters
    ----------
    plan : RunPlan
        A plan whose checkpoints were found (:func:`~forgetmap.collect.plan_run`).
    base : transformers.PreTrainedModel
        The run's base model, without an adapter.

    Returns
    -------
    dict of str to str
        ``{task id: "lora" or "full"}`` for the checkpoint tasks.

    Raises
    ------
    CheckpointMismatchError
        One line naming the task and what differs.
    """
    kinds = {}
    for index, task in enumerate(plan.tasks):
        if task.checkpoint is None:
            continue
        try:
            kinds[task.id] = check_checkpoint(Path(task.checkpoint), base, plan.config.model.id)
        except ForgetmapError as error:
            raise type(error)(f"{_where(index, task.id)}: {error}") from None
    return kinds


# ---------------------------------------------------------------------- helpers
def _check_record(directory: Path, config: ExperimentConfig, where: str) -> None:
    """A checkpoint ``forgetmap finetune`` made must have been trained with ``[training]``.

    Other checkpoints carry no record of their training and are taken as they are.
    """
    path = directory / RECORD
    if not path.is_file():
        return
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return  # not a record we can read: the checkpoint is taken as it is
    if not isinstance(record, dict):
        return
    ours = config.training.model_dump(mode="json")
    theirs = record.get("training")
    if not isinstance(theirs, dict):  # a record from before the whole [training] was kept
        theirs = {key: record[key] for key in ("method", "steps") if key in record}
    for key in sorted(set(theirs) & set(ours)):
        if theirs[key] != ours[key]:
            raise ConfigError(
                f"{where}: checkpoint {str(directory)!r} was fine-tuned with training.{key} = "
                f"{json.dumps(theirs[key])} (its {RECORD}), but the config says "
                f"{json.dumps(ours[key])}; a store records one [training] for all its rows: "
                "collect with the config it was fine-tuned with"
            )


def _where(index: int, task_id: str) -> str:
    return f"tasks[{index}] ({task_id!r})"
