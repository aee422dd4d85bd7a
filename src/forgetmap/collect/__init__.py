"""Collect forgetting matrices: fine-tune a model on each task and score upstream examples."""

from forgetmap.collect._checkpoints import checkpoint_tasks
from forgetmap.collect._executors import (
    EXECUTORS,
    LocalExecutor,
    RayExecutor,
    check_executor,
    make_executor,
)
from forgetmap.collect._finetune import PreparedFinetune, finetune_task, prepare_finetune
from forgetmap.collect._plan import RunPlan, TaskPlan, plan_run, task_seed
from forgetmap.collect._progress import RunProgress
from forgetmap.collect._run import (
    DATA_DIR,
    TASK_TEXTS,
    PreparedRun,
    collect,
    data_dir,
    load_base_model,
    prepare_run,
    record_data_dir,
    run_summary,
)
from forgetmap.collect._work import RunSpec, TaskJob, forgetting_rows

__all__ = [
    "DATA_DIR",
    "EXECUTORS",
    "TASK_TEXTS",
    "LocalExecutor",
    "PreparedFinetune",
    "PreparedRun",
    "RayExecutor",
    "RunPlan",
    "RunProgress",
    "RunSpec",
    "TaskJob",
    "TaskPlan",
    "check_executor",
    "checkpoint_tasks",
    "collect",
    "data_dir",
    "finetune_task",
    "forgetting_rows",
    "load_base_model",
    "make_executor",
    "plan_run",
    "prepare_finetune",
    "prepare_run",
    "record_data_dir",
    "run_summary",
    "task_seed",
]
