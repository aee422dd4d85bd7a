"""Fine-tune the base model on one task of a config and save the checkpoint.

The training is exactly that of one row of ``forgetmap collect`` (the same examples, order,
seed, settings and adapter initialisation), so the checkpoint of a task the store measured
reproduces that row, and the checkpoint of a new task is what ``forgetmap forecast`` expects: a
model fine-tuned from the store's base model the way the store's tasks were.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forgetmap.collect._plan import TaskPlan, plan_run
from forgetmap.collect._run import load_base_model
from forgetmap.collect._work import configure_process, fine_tuned, torch_threads_kept
from forgetmap.config import ExperimentConfig
from forgetmap.errors import ConfigError, OutputPathError
from forgetmap.lm._checkpoint_files import RECORD
from forgetmap.store import atomic_write_json

__all__ = ["MARKER", "PreparedFinetune", "finetune_task", "prepare_finetune"]

MARKER = RECORD
"""Written into every checkpoint directory this module makes: what it is and how it was made
(with the config's whole ``[training]``, which collect checks when the checkpoint comes back as
a task)."""


@dataclass(frozen=True)
class PreparedFinetune:
    """A checked fine-tuning job: the config, the task's plan and the checkpoint directory."""

    config: ExperimentConfig
    task: TaskPlan
    target: Path

    def run(
        self,
        *,
        device: str | None = None,
        threads: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """Load the base model, fine-tune, save the checkpoint; returns the summary.

        The checkpoint and its marker are written in a folder beside the target and moved into
        place together, so the target never holds a checkpoint without its marker (which a
        rerun would refuse to replace).
        """
        import torch

        from forgetmap.lm import encode_examples, save_checkpoint

        config, task, target = self.config, self.task, self.target
        with torch_threads_kept():
            if threads is not None:
                configure_process(int(threads))
            start = time.perf_counter()
            loaded = load_base_model(config, device=device)
            settings = config.training.settings()
            encoded = encode_examples(
                loaded.tokenizer, task.examples, max_length=config.training.max_length
            )
            tuning = fine_tuned(loaded, encoded, settings, seed=task.seed, progress=progress)
            with tuning as (trained, train_seconds), _staged(target) as staged:
                try:
                    save_checkpoint(loaded, staged)
                except OSError as error:  # a full disk, a folder made read-only meanwhile
                    raise OutputPathError(
                        f"cannot write the checkpoint to {str(target)!r}: {error.strerror or error}"
                    ) from None
                summary = {
                    "task": task.id,
                    "group": task.group,
                    "source": task.source,
                    "examples": len(task.examples),
                    "model": config.model.id,
                    "method": settings.method,
                    "training": config.training.model_dump(mode="json"),
                    "checkpoint": str(target),
                    "first_loss": float(trained.first_loss),
                    "last_loss": float(trained.last_loss),
                    "steps": int(trained.steps),
                    "tokens": int(trained.tokens),
                    "threads": int(torch.get_num_threads()),
                    "train_seconds": round(train_seconds, 3),
                    "seconds": round(time.perf_counter() - start, 3),
                }
                try:
                    atomic_write_json(staged / MARKER, summary)
                except OSError as error:
                    raise OutputPathError(
                        f"cannot write {str(target / MARKER)!r}: {error.strerror or error}"
                    ) from None
        return summary


def prepare_finetune(
    config: ExperimentConfig,
    task_id: str,
    out: str | os.PathLike[str],
    *,
    base_dir: str | os.PathLike[str] = ".",
) -> PreparedFinetune:
    """Check the task and the output directory and load the task's examples; no model yet.

    Raises :class:`~forgetmap.errors.ConfigError` for an unknown task id or a task given as a
    checkpoint, :class:`~forgetmap.errors.OutputPathError` for an output path that is a file
    or a foreign non-empty directory, and the data layer's errors for bad data.
    """
    target = Path(out)
    _check_target(target)
    plan = plan_run(config, base_dir, checkpoints=False)
    tasks = {task.id: task for task in plan.tasks}
    if task_id not in tasks:
        raise ConfigError(
            f"the config has no task {task_id!r}; its tasks are {', '.join(tasks) or 'none'}"
        )
    if tasks[task_id].checkpoint is not None:
        raise ConfigError(
            f"task {task_id!r} is given as a checkpoint ({tasks[task_id].checkpoint!r}), which "
            "collect scores without training: there is nothing to fine-tune"
        )
    return PreparedFinetune(config, tasks[task_id], target)


def finetune_task(
    config: ExperimentConfig,
    task_id: str,
    out: str | os.PathLike[str],
    *,
    base_dir: str | os.PathLike[str] = ".",
    device: str | None = None,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Fine-tune on task ``task_id`` of ``config`` and save the result to ``out``.

    Parameters
    ----------
    config : ExperimentConfig
    task_id : str
        The id of one of the config's ``[[tasks]]``.
    out : path-like
        Directory for the checkpoint: a LoRA adapter (``method = "lora"``) or the full model and
        tokenizer. It must be new, empty, or a checkpoint this function wrote before (replaced).
    base_dir : path-like
        Folder that relative data paths in the config resolve against.
    device : str, optional
        Overrides the config's device.
    threads : int, optional
        Torch CPU threads (default: torch's default). The same count as the collect run gives
        bit-identical weights on the same hardware.
    progress : callable, optional
        ``progress(steps_done)`` after each optimizer step.

    Returns
    -------
    dict
        The task, model, losses, steps, tokens, seconds and the checkpoint's path and kind (also
        written to ``out``/forgetmap-finetune.json).
    """
    prepared = prepare_finetune(config, task_id, out, base_dir=base_dir)
    return prepared.run(device=device, threads=threads, progress=progress)


def _check_target(target: Path) -> None:
    """Refuse to replace anything but an empty directory or an earlier checkpoint of ours."""
    if target.exists() and not target.is_dir():
        raise OutputPathError(f"{str(target)!r} is a file; name a directory for the checkpoint")
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).is_file():
        raise OutputPathError(
            f"{str(target)!r} is a non-empty directory that is not a forgetmap checkpoint; "
            "name a new or empty directory"
        )


@contextmanager
def _staged(target: Path) -> Iterator[Path]:
    """A new directory to write the checkpoint in, inside a hidden folder beside ``target``.

    When the block ends without an error, the directory replaces ``target`` (an empty one or
    an earlier checkpoint of ours, as :func:`_check_target` made sure); the folder is removed in
    any case. A crash leaves at most that hidden folder, or no ``target`` at all.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as error:
        raise OutputPathError(
            f"cannot write the checkpoint to {str(target)!r}: {error.strerror or error}"
        ) from None
    staged = aside / target.name
    try:
        yield staged
        try:
            if target.exists():
                shutil.rmtree(target)
            os.replace(staged, target)
        except OSError as error:
            raise OutputPathError(
                f"cannot move the checkpoint into {str(target)!r}: {error.strerror or error}"
            ) from None
    finally:
        shutil.rmtree(aside, ignore_errors=True)
