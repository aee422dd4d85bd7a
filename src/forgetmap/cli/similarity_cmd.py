"""``forgetmap similarity``: task–example similarities, saved in the store for ``analyze``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from forgetmap.cli._options import RunArgument, output


def similarity(
    ctx: typer.Context,
    run: RunArgument,
    kinds: Annotated[
        str, typer.Option("--kinds", help="Comma-separated kinds to compute (tfidf, embedding).")
    ] = "tfidf,embedding",
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Texts per embedding batch.")
    ] = 32,
) -> None:
    """Compute task–example similarities (TF-IDF, embedding)."""
    from forgetmap.similarity import compute_similarity
    from forgetmap.store import open_store

    names = [name.strip() for name in kinds.split(",") if name.strip()]
    document = compute_similarity(open_store(run), names, batch_size=batch_size)
    document = {"store": str(run), "computed": names, **document}
    output(ctx).result(document, _render)


def _render(out: Any, doc: dict[str, Any]) -> None:
    out.table(
        f"similarities saved in {doc['store']}",
        ["kind", "artifact", "mean", "seconds", "description"],
        [
            (name, k["artifact"], k["mean"], k["seconds"], k["description"])
            for name, k in doc["kinds"].items()
        ],
    )


def register(app: typer.Typer) -> None:
    app.command("similarity")(similarity)
