"""Rebuild what a collected run was made of from its store: config, examples and base model.

A collected store keeps its experiment config, the upstream examples' ids and display texts, and
the task texts (artifact ``task_texts``), but not the examples themselves as the model saw them
(a chat's turns, which decide the scored span). Later stages that need the model again (gradient
similarity, ``forgetmap forecast``) re-plan the run from the stored config, with the same seed,
and check that the data still gives exactly the stored ids and texts before trusting it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgetmap.collect import (
    DATA_DIR,
    TASK_TEXTS,
    RunPlan,
    data_dir,
    load_base_model,
    plan_run,
    record_data_dir,
)
from forgetmap.errors import DataSourceError, StoreError

if TYPE_CHECKING:
    from forgetmap.config import ExperimentConfig
    from forgetmap.lm import TrainingSettings
    from forgetmap.store import ForgettingStore

# DATA_DIR, data_dir, load_base_model and record_data_dir are collect's (it writes what they
# read); they are re-exported here, where the later stages have always found them.
__all__ = ["DATA_DIR", "StoredRun", "data_dir", "load_base_model", "record_data_dir", "stored_run"]


@dataclass(frozen=True)
class StoredRun:
    """A collected run rebuilt from its store.

    Attributes
    ----------
    config : ExperimentConfig
        The config the store was collected with.
    plan : RunPlan
        Its upstream examples (in the store's column order) and tasks (in row order).
    """

    config: ExperimentConfig
    plan: RunPlan

    @property
    def settings(self) -> TrainingSettings:
        """The run's :class:`~forgetmap.lm.TrainingSettings`."""
        return self.config.training.settings()

    def encode(self, tokenizer: Any) -> tuple[list[Any], dict[str, list[Any]]]:
        """Token ids as the run used them.

        Returns
        -------
        upstream : list of EncodedExample, length n_examples
            Cut to ``scoring.max_length``, in column order.
        tasks : dict of str to list of EncodedExample
            Each task's training examples, cut to ``training.max_length``.
        """
        from forgetmap.lm import encode_examples

        upstream = encode_examples(
            tokenizer, self.plan.upstream, max_length=self.config.scoring.max_length
        )
        tasks = {
            task.id: encode_examples(
                tokenizer, task.examples, max_length=self.config.training.max_length
            )
            for task in self.plan.tasks
        }
        return upstream, tasks


def stored_config(store: ForgettingStore) -> ExperimentConfig:
    """The experiment config of a collected store (StoreError for imported matrices)."""
    from forgetmap.config import parse_config

    if store.config is None:
        raise StoreError(
            f"store {str(store.path)!r} holds an imported matrix without an experiment config; "
            "this needs a store made by `forgetmap collect`"
        )
    return parse_config(store.config, origin=f"config of {str(store.path)!r}")


def stored_run(store: ForgettingStore, base_dir: str | os.PathLike[str] | None = None) -> StoredRun:
    """Re-plan a collected run and check that it matches the store.

    Parameters
    ----------
    store : ForgettingStore
        A store made by ``forgetmap collect``.
    base_dir : path-like, optional
        Folder that relative data paths in the config resolve against. Default: the config
        file's folder as collect recorded it (:func:`data_dir`), so later stages work from any
        folder on the machine that collected; irrelevant for the bundled corpora.

    Raises
    ------
    StoreError
        The store has no config (imported matrix).
    DataSourceError
        The data no longer gives the stored examples or task texts (a data file changed, or
        ``base_dir`` points elsewhere).
    """
    config = stored_config(store)
    base_dir = data_dir(store) if base_dir is None else Path(base_dir)
    plan = plan_run(config, base_dir, checkpoints=False)  # scored already; may have moved
    hint = (
        "the data changed since the run was collected, or relative data paths resolve "
        f"elsewhere (pass the config file's folder as the base directory, now {str(base_dir)!r})"
    )
    ids = tuple(example.id for example in plan.upstream)
    if ids != store.example_ids:
        raise DataSourceError(f"the upstream examples of {str(store.path)!r} differ: {hint}")
    examples = store.examples()
    if "text" in examples.columns:
        texts = [example.display_text for example in plan.upstream]
        if list(examples["text"]) != texts:
            raise DataSourceError(f"the upstream texts of {str(store.path)!r} differ: {hint}")
    if tuple(task.id for task in plan.tasks) != store.task_ids:
        raise DataSourceError(f"the tasks of {str(store.path)!r} differ from its config: {hint}")
    kept = store.load_json(TASK_TEXTS)
    if isinstance(kept, dict) and kept != plan.task_texts():
        raise DataSourceError(f"the task examples of {str(store.path)!r} differ: {hint}")
    return StoredRun(config=config, plan=plan)
