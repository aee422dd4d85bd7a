"""``forgetmap report``: one self-contained HTML page of a store and its results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgetmap.cli._options import MetricOption, RunArgument, output
from forgetmap.cli._paths import check_output_file


def report(
    ctx: typer.Context,
    run: RunArgument,
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("report.html"),
    rank: Annotated[
        int | None,
        typer.Option(
            "--rank", min=1, help="Rank K of the analysis (default: the stored analysis, or 10)."
        ),
    ] = None,
    replay: Annotated[
        Path | None,
        typer.Option("--replay", help="replay.json to show (default: the store's replay results)."),
    ] = None,
    max_cells: Annotated[
        int,
        typer.Option("--max-cells", min=1, help="Most heatmap cells drawn; larger is sampled."),
    ] = 250_000,
    metric: MetricOption = None,
) -> None:
    """Write an offline HTML report of a store and its results."""
    from forgetmap.report import write_report

    check_output_file(out, "--out")
    path = write_report(run, out, rank=rank, metric=metric, replay=replay, max_cells=max_cells)
    size = path.stat().st_size
    output(ctx).result(
        {"written": str(path), "bytes": size},
        lambda out_, doc: out_.console.print(doc["written"], highlight=False, soft_wrap=True),
    )


def register(app: typer.Typer) -> None:
    app.command("report")(report)
