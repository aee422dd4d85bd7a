"""``forgetmap analyze``: fits, patterns, statistics and correlations of a store's matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from forgetmap.cli._options import MetricOption, RunArgument, output
from forgetmap.cli._paths import check_output_file, write_json, writing

#: Rows shown per table for people; the JSON holds everything.
SHOWN = 10


def analyze(
    ctx: typer.Context,
    run: RunArgument,
    rank: Annotated[
        int | None,
        typer.Option("--rank", help="Largest rank K of the fits (default min(10, min(M,N)-1))."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the full JSON document here.")
    ] = None,
    group_by: Annotated[
        list[str] | None,
        typer.Option("--group-by", help="Task/example field to group by (repeatable)."),
    ] = None,
    drop_empty: Annotated[
        bool, typer.Option("--drop-empty", help="Leave out tasks/examples with no measured entry.")
    ] = False,
    top_q: Annotated[
        float, typer.Option("--top-q", help="Share of most forgotten items for the z-test.")
    ] = 0.1,
    fdr: Annotated[
        float,
        typer.Option("--fdr", help="False-discovery rate for groups and co-cluster members."),
    ] = 0.05,
    clusters: Annotated[
        int | None,
        typer.Option(
            "--clusters",
            min=2,
            help="Most co-clusters (blocks of significantly raised residual) to report, at "
            "most the number of tasks (default 5, or fewer for a smaller matrix).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    metric: MetricOption = None,
) -> None:
    """Analyse a store: fits, residual patterns, correlations."""
    from forgetmap.analysis import analyze as run_analysis
    from forgetmap.store import open_store

    if json_path is not None:
        check_output_file(json_path, "--json")
    store = open_store(run)
    document = run_analysis(
        store,
        rank=rank,
        metric=metric,
        group_fields=group_by or None,
        drop_empty=drop_empty,
        top_q=top_q,
        fdr=fdr,
        n_clusters=clusters,
        seed=seed,
    )
    if json_path is not None:
        write_json(json_path, document)
    with writing(store.artifact_path("analysis.json"), ""):
        saved = store.save_json("analysis", document)
    out = output(ctx)
    out.result(document, _render)
    out.message(f"saved {saved}" + (f" and {json_path}" if json_path else ""))


def _render(out: Any, doc: dict[str, Any]) -> None:
    m, n = doc["shape"]
    stats = doc["statistics"]
    out.message(f"[bold]{doc['store']}[/bold]  metric {doc['metric']}, {m} tasks × {n} examples")
    out.table(
        "forgetting",
        ["", "value"],
        [
            ("share of measured entries > 0", stats["share_forgotten"]),
            ("mean", stats["mean"]),
            ("std", stats["std"]),
            ("residual std after rank 1", doc["residuals"]["std"]),
        ],
    )
    out.table(
        "R² of each fit",
        ["fit", "R²"],
        [(name.replace("_", " "), value) for name, value in doc["fits"].items()]
        + [(f"rank {k}", value) for k, value in doc["rank_r2"].items()],
    )
    values = doc["singular_values"][:SHOWN]
    out.message("singular values: " + ", ".join(f"{v:.4g}" for v in values))
    out.table(
        "leading components (largest loadings)",
        ["#", "σ", "tasks", "examples"],
        [
            (
                c["index"],
                c["singular_value"],
                ", ".join(t["id"] for t in c["tasks"][:3]),
                ", ".join(e["id"] for e in c["examples"][:3]),
            )
            for c in doc["components"][:3]
        ],
    )
    fdr = doc["settings"]["fdr"]
    significant = [g for g in doc["groups"] if g["significant"]]
    out.table(
        f"groups ({len(significant)} of {len(doc['groups'])} tests significant at FDR {fdr})",
        ["axis", "field", "value", "size", "test", "statistic", "p", "q"],
        [
            (
                g["axis"],
                g["field"],
                g["value"],
                g["size"],
                g["test"],
                g["statistic"],
                g["p_value"],
                g["q_value"],
            )
            for g in doc["groups"][:SHOWN]
        ],
    )
    clusters = doc["coclusters"]
    out.table(
        f"co-clusters: {len(clusters)} block(s) whose every member has a raised residual "
        f"(FDR {fdr})",
        ["tasks", "examples", "mean residual", "smallest z", "first tasks", "first examples"],
        [
            (
                c["n_tasks"],
                c["n_examples"],
                c["mean_residual"],
                min(row["z"] for row in c["task_statistics"] + c["example_statistics"]),
                ", ".join(c["tasks"][:3]),
                ", ".join(c["examples"][:3]),
            )
            for c in clusters
        ],
    )
    for key, title in (
        ("most_forgotten", "most forgotten"),
        ("least_forgotten", "least forgotten"),
    ):
        out.table(
            title,
            ["example", "mean", "text"],
            [(e["id"], e["mean"], _short(e["text"])) for e in doc[key][:5]],
        )
    if doc["correlations"]:
        out.table(
            "correlations",
            ["with", "pearson", "spearman", "n"],
            [(k, c["pearson"], c["spearman"], c["n"]) for k, c in doc["correlations"].items()],
        )


def _short(text: str | None, width: int = 60) -> str | None:
    if text is None:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze)
