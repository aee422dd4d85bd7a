"""``forgetmap finetune``: fine-tune on one task of a config and save the checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from forgetmap.cli._options import ThreadsOption, output
from forgetmap.cli._paths import check_output_dir


def finetune(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Experiment config (TOML).")],
    task: Annotated[str, typer.Option("--task", help="Id of one of the config's tasks.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the checkpoint.")],
    device: Annotated[
        str | None, typer.Option("--device", help="Device for the model (default: config's).")
    ] = None,
    threads: ThreadsOption = None,
) -> None:
    """Fine-tune one task as collect does; save its checkpoint."""
    from forgetmap.collect import RunProgress, prepare_finetune
    from forgetmap.config import load_config

    out_ = output(ctx)
    check_output_dir(out, "--out")
    experiment, base_dir = load_config(config)
    prepared = prepare_finetune(experiment, task, out, base_dir=base_dir)
    out_.message(
        f"fine-tuning {experiment.model.id} on task {task!r} "
        f"({experiment.training.method}, {experiment.training.steps} steps)"
    )
    with RunProgress(out_.stderr) as progress:
        summary = prepared.run(
            device=device,
            threads=threads,
            progress=progress.hooks.training(task, experiment.training.steps),
        )
    out_.result(summary, _render)


def _render(out: Any, doc: dict[str, Any]) -> None:
    kind = "LoRA adapter" if doc["method"] == "lora" else "full model"
    out.message(
        f"[bold]{doc['checkpoint']}[/bold]: {kind} of {doc['model']} fine-tuned on "
        f"{doc['task']} ({doc['examples']} examples, {doc['steps']} steps, "
        f"loss {doc['first_loss']:.3g} → {doc['last_loss']:.3g}) in {doc['seconds']:.1f} s"
    )


def register(app: typer.Typer) -> None:
    app.command("finetune")(finetune)
