"""Options and arguments shared by several commands, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

RunArgument = Annotated[Path, typer.Argument(help="Run directory holding a forgetmap store.")]
MetricOption = Annotated[
    str | None,
    typer.Option("--metric", help="Forgetting metric to use (default: the primary one)."),
]


def output(ctx: typer.Context):
    """The command's :class:`~forgetmap.cli._output.Output`."""
    from forgetmap.cli._output import Output

    return ctx.obj if isinstance(ctx.obj, Output) else Output()
