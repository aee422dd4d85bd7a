"""``forgetmap info``: what a store holds and how much is forgotten."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from forgetmap.cli._options import MetricOption, RunArgument, output


def info(
    ctx: typer.Context,
    run: RunArgument,
    metric: MetricOption = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Verify every file against its checksum (all row chunks, tables, before-scores); "
            "exit 2 when any is damaged.",
        ),
    ] = False,
) -> None:
    """Show a store's shape, progress, groups and statistics."""
    from forgetmap.describe import describe
    from forgetmap.errors import StoreDamagedError
    from forgetmap.store import open_store

    out = output(ctx)
    store = open_store(run)
    if check:
        damaged = store.verify()
        if damaged:
            if out.human:
                for line in damaged:
                    out.message(f"damaged: {line}")
            else:
                out.result({"path": store.url, "ok": False, "damaged": damaged}, _render)
            raise StoreDamagedError(
                f"{len(damaged)} damaged file(s) in store {store.url!r}"
                + (" (listed above)" if out.human else f": {damaged[0]}")
            )
    document = describe(store, metric)
    if check:
        document["check"] = {"ok": True, "damaged": []}
    out.result(document, _render)


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
    if "check" in doc:
        out.message("integrity: OK (every finished row, table and before-score verified)")
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
