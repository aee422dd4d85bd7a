"""Collect forgetting matrices: fine-tune a model on each task and score upstream examples."""

from forgetmap.collect._checkpoints import checkpoint_tasks
from forgetmap.collect._executors import EXECUTORS, LocalExecutor, RayExecutor, make_executor
from forgetmap.collect._finetune import PreparedFinetune, finetune_task, prepare_finetune
from forgetmap.collect._plan import RunPlan, TaskPlan, plan_run, task_seed
from forgetmap.collect._progress import RunProgress
from forgetmap.collect._run import TASK_TEXTS, PreparedRun, collect, prepare_run, run_summary
from forgetmap.collect._work import RunSpec, TaskJob, forgetting_rows

__all__ = [
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
    "checkpoint_tasks",
    "collect",
    "finetune_task",
    "forgetting_rows",
    "make_executor",
    "plan_run",
    "prepare_finetune",
    "prepare_run",
    "run_summary",
    "task_seed",
]
