"""``forgetmap import``: turn a matrix file into a store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgetmap.cli._options import output
from forgetmap.cli._paths import check_output_dir, writing


def import_(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="Matrix file: .npy (+ .meta), .csv or long .parquet.")
    ],
    out: Annotated[
        str,
        typer.Option("--out", help="Run directory to create: a path, or a URL (s3://bucket/run)."),
    ],
    meta: Annotated[
        Path | None,
        typer.Option("--meta", help="Task groups in the paper's JSON format (default: PATH.meta)."),
    ] = None,
    metric: Annotated[str, typer.Option(help="Name of the metric the matrix measures.")] = "nll",
) -> None:
    """Import a matrix file (.npy, .csv, .parquet) into a new store."""
    from forgetmap.io import import_matrix
    from forgetmap.store import store_location

    location = store_location(out)  # a URL's protocol must be known and installed
    if location.local_path is not None:
        check_output_dir(location.local_path, "--out")
    with writing(out):
        store = import_matrix(path, out, meta=meta, metric=metric)
    m, n = store.shape
    document = {"store": store.url, "tasks": m, "examples": n, "metric": store.metrics[0]}
    output(ctx).result(
        document,
        lambda out_, doc: out_.message(
            f"imported {doc['tasks']} tasks × {doc['examples']} examples into {doc['store']}"
        ),
    )


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
