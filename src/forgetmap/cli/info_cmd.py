"""``forgetmap info``: what a store holds and how much is forgotten."""

from __future__ import annotations

from typing import Any

import typer

from forgetmap.cli._options import MetricOption, RunArgument, output


def info(ctx: typer.Context, run: RunArgument, metric: MetricOption = None) -> None:
    """Show a store's shape, progress, groups and forgetting stats."""
    from forgetmap.describe import describe
    from forgetmap.store import open_store

    output(ctx).result(describe(open_store(run), metric), _render)


def _render(out: Any, doc: dict[str, Any]) -> None:
    m, n = doc["shape"]
    out.message(f"[bold]{doc['path']}[/bold]  ({doc['kind']}, metric {doc['metric']})")
    rows = [
        ("tasks × examples", f"{m} × {n}"),
        ("finished rows", f"{doc['finished']} of {m}"),
        ("missing rows", doc["missing"]),
        ("measured entries", doc["measured"]),
        ("share forgotten (> 0)", doc["share_forgotten"]),
        ("mean forgetting", doc["mean"]),
        ("std of forgetting", doc["std"]),
    ]
    out.table(None, ["", "value"], rows)
    if doc["missing_tasks"]:
        shown = ", ".join(doc["missing_tasks"][:10])
        more = "" if doc["missing"] <= 10 else f" and {doc['missing'] - 10} more"
        out.message(f"missing: {shown}{more}")
    if doc["groups"]:
        out.message("")
        out.table(
            "task groups",
            ["group", "tasks", "finished", "mean forgetting"],
            [(name, g["tasks"], g["finished"], g["mean"]) for name, g in doc["groups"].items()],
        )


def register(app: typer.Typer) -> None:
    app.command("info")(info)
