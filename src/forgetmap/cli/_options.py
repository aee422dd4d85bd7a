"""Options and arguments shared by several commands, defined once."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

RunArgument = Annotated[
    str,
    typer.Argument(
        help="Run directory holding a forgetmap store: a path, or a URL such as s3://bucket/run."
    ),
]
MetricOption = Annotated[
    str | None,
    typer.Option("--metric", help="Forgetting metric to use (default: the primary one)."),
]


class Executor(enum.StrEnum):
    """Where the fine-tuning jobs of ``collect`` and ``replay`` run."""

    local = "local"
    ray = "ray"


ExecutorOption = Annotated[
    Executor,
    typer.Option("--executor", help="Run jobs in this process (local) or as Ray tasks."),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="Ray cluster to use (e.g. ray://head:10001); default: start a local one.",
    ),
]
ThreadsOption = Annotated[
    int | None,
    typer.Option(min=1, help="Torch CPU threads per process (default: torch's default)."),
]


def check_executor_options(executor: Executor, ray_address: str | None) -> None:
    """Refuse ``--ray-address`` without ``--executor ray``, naming the options (the library
    makes the same check, in its own words)."""
    if executor is Executor.local and ray_address is not None:
        from forgetmap.errors import ExecutorError

        raise ExecutorError("--ray-address needs --executor ray")


def output(ctx: typer.Context):
    """The command's :class:`~forgetmap.cli._output.Output`."""
    from forgetmap.cli._output import Output

    return ctx.obj if isinstance(ctx.obj, Output) else Output()
