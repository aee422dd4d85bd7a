"""``forgetmap synth``: write a generated matrix with planted structure (not a measurement)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgetmap.cli._options import output


def synth(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(help="File to write: .npy (+ .meta), .csv or .parquet.")],
    tasks: Annotated[int, typer.Option(min=1, help="Number of tasks (rows).")] = 24,
    examples: Annotated[
        int, typer.Option(min=1, help="Number of upstream examples (columns).")
    ] = 400,
    groups: Annotated[int, typer.Option(min=1, help="Number of task groups.")] = 3,
    rank: Annotated[int, typer.Option(min=1, help="Rank of the smooth part.")] = 3,
    missing: Annotated[float, typer.Option(min=0.0, max=0.99, help="Share of NaN entries.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write a generated matrix with planted structure."""
    from forgetmap.io import write_matrix
    from forgetmap.synthetic import planted_matrix

    matrix = planted_matrix(tasks, examples, n_groups=groups, rank=rank, missing=missing, seed=seed)
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
