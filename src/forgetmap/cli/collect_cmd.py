"""``forgetmap collect``: fine-tune on each task and store the forgetting matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from forgetmap.cli._options import (
    Executor,
    ExecutorOption,
    RayAddressOption,
    ThreadsOption,
    check_executor_options,
    output,
)
from forgetmap.cli._paths import check_output_dir


def collect(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Experiment config (TOML).")],
    out: Annotated[
        str,
        typer.Option(
            "--out", help="Run directory for the store: a path, or a URL such as s3://bucket/run."
        ),
    ],
    executor: ExecutorOption = Executor.local,
    ray_address: RayAddressOption = None,
    threads: ThreadsOption = None,
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            "--checkpoints",
            help="Folder whose subfolders are fine-tuned checkpoints: score those as the tasks "
            "(id = folder name) instead of the config's tasks.",
        ),
    ] = None,
) -> None:
    """Train or score each task; store the forgetting matrix."""
    from forgetmap.collect import RunProgress, checkpoint_tasks, prepare_run
    from forgetmap.config import load_config
    from forgetmap.store import store_location

    check_executor_options(executor, ray_address)
    out_ = output(ctx)
    experiment, base_dir = load_config(config)
    location = store_location(out)  # a URL's protocol must be known and installed
    if location.local_path is not None:
        check_output_dir(location.local_path, "--out", noun="run directory")
    if checkpoints is not None:
        experiment = checkpoint_tasks(experiment, checkpoints)
    prepared = prepare_run(
        experiment,
        out,
        base_dir=base_dir,
        executor=executor.value,
        ray_address=ray_address,
        threads=threads,
    )
    plan = prepared.describe()
    for note in plan["notes"]:
        out_.message(note)
    out_.message(_plan_line(plan))
    with RunProgress(out_.stderr) as progress:
        document = prepared.run(progress)
    out_.result(document, _render)


def _plan_line(plan: dict[str, Any]) -> str:
    m, n = plan["shape"]
    resumed = f"; resuming, {plan['finished']} of {m} rows done" if plan["finished"] else ""
    given = plan["checkpoints"]
    if given == m:
        how = "every task a checkpoint"
    else:
        how = f"{plan['method']}, {plan['steps']} steps"
        how += f", {given} of the tasks checkpoints" if given else ""
    return (
        f"collecting {m} tasks × {n} examples into {plan['path']} with {plan['model']} "
        f"({how}, metrics {', '.join(plan['metrics'])}; "
        f"{plan['executor']} executor, {plan['threads']} threads){resumed}"
    )


def _render(out: Any, doc: dict[str, Any]) -> None:
    m, n = doc["shape"]
    ran = len(doc["ran"])
    elsewhere = len(doc.get("elsewhere", []))
    by_others = f", {elsewhere} by other processes" if elsewhere else ""
    out.message(
        f"[bold]{doc['path']}[/bold]: {doc['finished']} of {m} tasks × {n} examples "
        f"({ran} run now, {doc['skipped']} already done{by_others}) in {doc['seconds']:.1f} s; "
        f"mean NLL of the base model {doc['before_mean_nll']:.4g}"
        if doc["before_mean_nll"] is not None
        else f"{doc['path']}: no scores yet"
    )
    out.table(
        None,
        ["task", "group", "loss first → last", "mean forgetting", "share > 0", "seconds"],
        [
            (
                task["id"],
                task["group"],
                _losses(task),
                task["mean_forgetting"],
                task["share_forgotten"],
                _seconds(task),
            )
            for task in doc["tasks"]
        ],
    )


def _losses(task: dict[str, Any]) -> str:
    if task.get("checkpoint_kind") is not None:
        return f"({task['checkpoint_kind']} checkpoint)"
    if task["first_loss"] is None:
        return "-"
    return f"{task['first_loss']:.3f} → {task['last_loss']:.3f}"


def _seconds(task: dict[str, Any]) -> str:
    if task["score_seconds"] is None:
        return "-"
    return f"{(task['train_seconds'] or 0.0) + task['score_seconds']:.1f}"


def register(app: typer.Typer) -> None:
    app.command("collect")(collect)
