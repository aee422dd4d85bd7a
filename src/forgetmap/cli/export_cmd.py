"""``forgetmap export``: write a store's matrix to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgetmap.cli._options import MetricOption, RunArgument, output


def export(
    ctx: typer.Context,
    run: RunArgument,
    out: Annotated[
        Path, typer.Option("--out", help="File to write: .npy (+ .meta), .csv, .parquet.")
    ],
    metric: MetricOption = None,
) -> None:
    """Export a store's forgetting matrix to .npy, .csv or .parquet."""
    from forgetmap.io import export_store
    from forgetmap.store import open_store

    written = export_store(open_store(run), out, metric=metric)
    output(ctx).result(
        {"written": [str(path) for path in written]},
        lambda out_, doc: out_.message("wrote " + ", ".join(doc["written"])),
    )


def register(app: typer.Typer) -> None:
    app.command("export")(export)
