"""``forgetmap forecast``: rank every upstream example by a checkpoint's predicted forgetting."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from forgetmap.cli._options import RunArgument, output
from forgetmap.cli._paths import check_output_file, writing

#: Rows of the ranking shown for people; the CSV holds every example.
SHOWN = 10


def forecast(
    ctx: typer.Context,
    run: RunArgument,
    out: Annotated[Path, typer.Option("--out", help="CSV file for the full ranking.")],
    checkpoint: Annotated[
        str | None,
        typer.Option(
            "--checkpoint", help="Fine-tuned LoRA adapter or full model: directory or hub id."
        ),
    ] = None,
    task_data: Annotated[
        Path | None,
        typer.Option(
            "--task-data",
            help="Instead of a checkpoint: a JSONL file of the training data you have not "
            "fine-tuned on yet (forecast from similar measured tasks, k = 0).",
        ),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Upstream examples to score.")] = 30,
    probe: Annotated[str, typer.Option("--probe", help="active or random probes.")] = "active",
    method: Annotated[
        str | None,
        typer.Option(
            "--method", help="Completion method (default auto; lowrank, knn, additive, ...)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of probes and estimator.")] = 0,
    level: Annotated[float, typer.Option("--level", help="Coverage of the intervals.")] = 0.9,
    base_dir: Annotated[
        Path | None,
        typer.Option(
            "--base-dir",
            help="Folder relative data paths of the config resolve to (default: the config's "
            "folder, as collect recorded it).",
        ),
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="Device for the model (default: config's).")
    ] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Also score every other example (what a forecast saves) and report how the "
            "forecast did.",
        ),
    ] = False,
) -> None:
    """Predict forgetting from a checkpoint, or from new data."""
    from forgetmap.errors import PredictionError
    from forgetmap.forecast import DEFAULT_METHOD, forecast_before_finetuning, write_ranking
    from forgetmap.forecast import forecast as run_forecast
    from forgetmap.store import open_store

    out_ = output(ctx)
    if (checkpoint is None) == (task_data is None):
        raise PredictionError(
            "give --checkpoint (a fine-tuned model: probes scored) or --task-data (training "
            "data not fine-tuned on yet: no probes), not both or neither"
        )
    check_output_file(out, "--out")  # before the model loads and the probes are scored
    store = open_store(run)
    if task_data is not None:
        result = forecast_before_finetuning(
            store, task_data, level=level, progress=out_.message if out_.human else None
        )
        with writing(out):
            written = write_ranking(result.ranking, out)
        result.document["out"] = written
        out_.result(result.document, _render_before)
        return
    result = run_forecast(
        store,
        checkpoint,
        k=k,
        probe=probe,
        method=method or DEFAULT_METHOD,
        seed=seed,
        level=level,
        base_dir=base_dir,
        device=device,
        progress=out_.message if out_.human else None,
        verify=verify,
    )
    with writing(out):
        written = write_ranking(result.ranking, out)
    result.document["out"] = written
    out_.result(result.document, _render)


def _render(out: Any, doc: dict[str, Any]) -> None:
    out.message(
        f"[bold]{doc['checkpoint']}[/bold] ({doc['checkpoint_kind']}): scored {doc['k']} of "
        f"{doc['n_examples']} examples ({doc['probe']} probes) in {doc['score_seconds']:.1f} s; "
        f"{doc['method']} from {doc['training_tasks']} tasks, {doc['level']:.0%} intervals"
    )
    _most_at_risk(out, doc)
    check = doc.get("verification")
    if check:
        coverage = "-" if check["coverage"] is None else f"{check['coverage']:.0%}"
        out.message(
            f"verified on the {check['examples']} examples not scored: RMSE {check['rmse']:.3g} "
            f"(column means {check['column_mean_rmse']:.3g}), Spearman "
            f"{_number(check['spearman'])}, precision@10% {_number(check['precision_at_10'])}, "
            f"intervals cover {coverage}; scoring them took {check['score_seconds']:.1f} s"
        )


def _render_before(out: Any, doc: dict[str, Any]) -> None:
    temperature = doc["temperature"]
    setting = "the column means" if temperature is None else f"T = {temperature:g}"
    out.message(
        f"[bold]{doc['task_data']}[/bold] ({doc['task_examples']} examples), not fine-tuned: "
        f"forgetting predicted from the {doc['training_tasks']} measured tasks by "
        f"{doc['similarity']} similarity of their training data ({setting}, chosen on the store: "
        f"leave-one-task-out RMSE {doc['validation_rmse']:.3g} against "
        f"{doc['validation_column_mean_rmse']:.3g} for the column means)"
    )
    out.message(
        "most similar: "
        + ", ".join(f"{t['task']} ({t['weight']:.0%})" for t in doc["nearest_tasks"][:3])
    )
    _most_at_risk(out, doc)


def _most_at_risk(out: Any, doc: dict[str, Any]) -> None:
    """The top of the ranking (a probed example shows "measured" for its interval)."""
    out.table(
        "most at risk",
        ["rank", "example", "forgetting", "interval", "text"],
        [
            (
                row["rank"],
                row["example"],
                row["forgetting"],
                "measured" if row["probed"] else _interval(row["low"], row["high"]),
                _short(row["text"]),
            )
            for row in doc["top"][:SHOWN]
        ],
    )
    out.message(f"wrote {doc['n_examples']} ranked examples to {doc['out']}")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _interval(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "-"
    return f"[{low:.3g}, {high:.3g}]"


def _short(text: str | None, width: int = 32) -> str | None:
    if text is None:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def register(app: typer.Typer) -> None:
    app.command("forecast")(forecast)
