"""``forgetmap evaluate``: how well k probed examples predict a held-out task's forgetting."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from forgetmap.cli._options import MetricOption, RunArgument, output
from forgetmap.cli._paths import check_output_file, write_json, writing


def evaluate(
    ctx: typer.Context,
    run: RunArgument,
    methods: Annotated[
        str | None,
        typer.Option(
            "--methods", help="Comma-separated methods (default: all that suit the data)."
        ),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Probed examples per held-out task.")] = 30,
    seeds: Annotated[int, typer.Option("--seeds", help="Repetitions with fresh probes.")] = 10,
    split: Annotated[
        str, typer.Option("--split", help="loo, kfold:N or group:FIELD (out-of-domain).")
    ] = "loo",
    probe: Annotated[str, typer.Option("--probe", help="random or active probes.")] = "random",
    threshold: Annotated[
        float, typer.Option("--threshold", help="Forgetting above this counts as forgotten.")
    ] = 0.0,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the result document here.")
    ] = None,
    metric: MetricOption = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the probe draws.")] = 0,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            help="Held-out folds evaluated in parallel (default: every CPU; one for a small "
            "matrix). The numbers do not depend on it.",
        ),
    ] = None,
) -> None:
    """Compare forgetting predictors on held-out tasks."""
    from forgetmap.predict.store_inputs import evaluate_store
    from forgetmap.store import open_store

    if json_path is not None:
        check_output_file(json_path, "--json")
    store = open_store(run)
    names = [name.strip() for name in methods.split(",") if name.strip()] if methods else None
    document = evaluate_store(
        store,
        methods=names,
        k=k,
        seeds=seeds,
        split=split,
        probe=probe,
        threshold=threshold,
        metric=metric,
        seed=seed,
        threads=threads,
    )
    if json_path is not None:
        write_json(json_path, document)
    with writing(store.artifact_path("evaluate.json"), ""):
        store.save_json("evaluate", document)
    output(ctx).result(document, _render)


_COLUMNS = (
    ("rmse", "rmse"),
    ("rmse_std", "±"),
    ("mae", "mae"),
    ("pearson", "r"),
    ("spearman", "rho"),
    ("f1", "f1"),
    ("auc", "auc"),
    ("precision_at_10", "p@10"),
    ("coverage_90", "cov90"),
    ("seconds", "s"),
)


def _render(out: Any, doc: dict[str, Any]) -> None:
    s = doc["settings"]
    out.message(
        f"[bold]{s.get('run', '')}[/bold]  metric {s.get('metric', '')}, split {s['split']}, "
        f"k={s['k']} {s['probe']} probes, {s['seeds']} seeds, {s['n_test_rows']} held-out tasks"
    )
    rows = [
        [name] + [_cell(result.get(key)) for key, _ in _COLUMNS]
        for name, result in sorted(doc["methods"].items(), key=lambda item: _rmse(item[1]))
    ]
    out.table(None, ["method", *(label for _, label in _COLUMNS)], rows)
    out.message("means over seeds; ± is the std of rmse over seeds (all stds in --json)")
    for name, reason in doc.get("skipped", {}).items():
        out.message(f"skipped {name}: {reason}")


def _rmse(result: dict[str, Any]) -> float:
    value = result.get("rmse")
    return float("inf") if value is None else float(value)


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.3g}"


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
