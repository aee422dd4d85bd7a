"""``forgetmap replay-set``: the upstream examples to mix into your own fine-tuning data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from forgetmap.cli._options import RunArgument, output
from forgetmap.cli._paths import check_output_file, writing

#: Records shown for people; the file holds every one.
SHOWN = 10


def replay_set(
    ctx: typer.Context,
    run: RunArgument,
    out: Annotated[Path, typer.Option("--out", help="JSONL file for the examples to replay.")],
    checkpoint: Annotated[
        str | None,
        typer.Option(
            "--checkpoint",
            help="Checkpoint from early in your run (LoRA adapter or full model) to forecast.",
        ),
    ] = None,
    forecast: Annotated[
        Path | None,
        typer.Option("--forecast", help="Or a ranking CSV written by `forgetmap forecast`."),
    ] = None,
    budget: Annotated[int | None, typer.Option("--budget", help="Examples to replay.")] = None,
    ratio: Annotated[
        str | None,
        typer.Option("--ratio", help="Or replay examples per training example, in (0, 1)..."),
    ] = None,
    dataset_size: Annotated[
        int | None,
        typer.Option("--dataset-size", help="...with the number of your training examples."),
    ] = None,
    sampler: Annotated[
        str, typer.Option("--sampler", help="predicted, predicted_topk or random.")
    ] = "predicted",
    temperature: Annotated[
        float, typer.Option("--temperature", help="T of softmax(forgetting / T), in nats.")
    ] = 0.05,
    seed: Annotated[int, typer.Option("--seed", help="Seed of probes and draw.")] = 0,
    k: Annotated[int, typer.Option("--k", help="Upstream examples to score.")] = 30,
    probe: Annotated[str, typer.Option("--probe", help="active or random probes.")] = "active",
    method: Annotated[
        str | None,
        typer.Option(
            "--method", help="Completion method (default: forecast's, auto; lowrank, knn, ...)."
        ),
    ] = None,
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
) -> None:
    """Pick upstream examples to replay in your own fine-tuning."""
    from forgetmap.errors import ConfigError
    from forgetmap.replay import replay_set as choose
    from forgetmap.replay import write_replay_set
    from forgetmap.store import open_store

    out_ = output(ctx)
    if sampler != "random" and checkpoint is None and forecast is None:
        raise ConfigError(
            f"--sampler {sampler} replays predicted forgetting: give --checkpoint (scored "
            "here) or --forecast (a forecast CSV)"
        )
    check_output_file(out, "--out")  # before the model loads and the probes are scored
    store = open_store(run)
    result = choose(
        store,
        checkpoint=checkpoint,
        forecast=forecast,
        budget=budget,
        ratio=ratio,
        dataset_size=dataset_size,
        sampler=sampler,
        temperature=temperature,
        seed=seed,
        k=k,
        probe=probe,
        method=method,
        base_dir=base_dir,
        device=device,
        progress=out_.message if out_.human else None,
    )
    with writing(out):
        written = write_replay_set(result.records, out)
    result.document["out"] = written
    result.document["top"] = [
        {key: record.get(key) for key in ("id", "predicted_forgetting", "weight", "source")}
        for record in result.records[:SHOWN]
    ]
    out_.result(result.document, _render)


def _render(out: Any, doc: dict[str, Any]) -> None:
    where = {"checkpoint": "forecast from the checkpoint", "forecast": "from the forecast CSV"}
    out.message(
        f"{doc['sampler']} replay of {doc['budget']} of {doc['pool']} upstream examples "
        f"({where.get(doc['predictions'], 'no predictions')})"
    )
    out.table(
        "first to replay",
        ["id", "predicted forgetting", "weight", "source"],
        [
            (row["id"], row["predicted_forgetting"], row["weight"], row["source"])
            for row in doc["top"]
        ],
    )
    if doc["replayed_predicted_mean"] is not None:
        out.message(
            f"mean predicted forgetting: {doc['replayed_predicted_mean']:.3g} replayed, "
            f"{doc['pool_predicted_mean']:.3g} in the pool"
        )
    out.message(f"wrote {doc['budget']} examples to {doc['out']}")


def register(app: typer.Typer) -> None:
    app.command("replay-set")(replay_set)
