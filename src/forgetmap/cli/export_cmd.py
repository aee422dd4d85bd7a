"""``forgetmap export``: write a store's matrix to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgetmap.cli._options import MetricOption, RunArgument, output
from forgetmap.cli._paths import check_output_file, writing


def export(
    ctx: typer.Context,
    run: RunArgument,
    out: Annotated[
        Path, typer.Option("--out", help="File to write: .npy (+ .meta), .csv, .parquet.")
    ],
    metric: MetricOption = None,
) -> None:
    """Export a store's forgetting matrix to .npy, .csv or .parquet."""
    from forgetmap.io import output_files, store_matrix, write_matrix
    from forgetmap.store import open_store

    files = output_files(out)  # refuses an unknown extension first
    check_output_file(out, "--out", companions=files[1:])
    matrix = store_matrix(open_store(run), metric)
    with writing(out):
        written = write_matrix(matrix, out)
    output(ctx).result(
        {"written": [str(path) for path in written]},
        lambda out_, doc: out_.message("wrote " + ", ".join(doc["written"])),
    )


def register(app: typer.Typer) -> None:
    app.command("export")(export)
