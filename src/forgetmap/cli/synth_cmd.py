"""``forgetmap synth``: write a generated matrix with planted structure (not a measurement)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgetmap.cli._options import output
from forgetmap.cli._paths import check_output_file, writing


def synth(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(help="File to write: .npy (+ .meta), .csv or .parquet.")],
    tasks: Annotated[int, typer.Option(min=1, help="Number of tasks (rows).")] = 24,
    examples: Annotated[
        int, typer.Option(min=1, help="Number of upstream examples (columns).")
    ] = 400,
    groups: Annotated[
        int | None,
        typer.Option(min=1, help="Number of task groups, at most tasks (default 3, or less)."),
    ] = None,
    rank: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Rank of the smooth part, at most min(tasks, examples) (default 3, or less).",
        ),
    ] = None,
    missing: Annotated[float, typer.Option(min=0.0, max=0.99, help="Share of NaN entries.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write a generated matrix with planted structure."""
    from forgetmap.io import output_files, write_matrix
    from forgetmap.synthetic import planted_matrix

    largest = min(tasks, examples)
    if rank is None:
        rank = min(3, largest)
    elif rank > largest:
        raise typer.BadParameter(
            f"{rank} exceeds min(tasks, examples) = {largest} of a {tasks} × {examples} "
            f"matrix; give --rank {largest} or less",
            param_hint="--rank",
        )
    if groups is None:
        groups = min(3, tasks)
    elif groups > tasks:
        raise typer.BadParameter(
            f"{groups} groups of {tasks} task(s) would leave groups empty; give --groups "
            f"{tasks} or less",
            param_hint="--groups",
        )
    check_output_file(out, "OUT", companions=output_files(out)[1:])
    matrix = planted_matrix(tasks, examples, n_groups=groups, rank=rank, missing=missing, seed=seed)
    with writing(out, "OUT"):
        written = write_matrix(matrix, out)
    output(ctx).result(
        {"written": [str(path) for path in written], "shape": [tasks, examples]},
        lambda out_, doc: out_.message(
            f"wrote a generated {tasks} × {examples} matrix (planted structure, seed {seed}): "
            + ", ".join(doc["written"])
        ),
    )


def register(app: typer.Typer) -> None:
    app.command("synth")(synth)
