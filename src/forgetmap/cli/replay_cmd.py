"""``forgetmap replay``: does replaying predicted-forgotten examples reduce forgetting?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from forgetmap.cli._options import output


def replay(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Replay experiment config (TOML).")],
    out: Annotated[Path, typer.Option("--out", help="Result directory (resumed when rerun).")],
    executor: Annotated[
        str, typer.Option("--executor", help="Run in this process (local) or on Ray (ray).")
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="Ray cluster to join (default: start a local one)."),
    ] = None,
) -> None:
    """Test targeted replay against random replay."""
    from forgetmap.replay import run_replay

    out_ = output(ctx)
    done: list[str] = []

    def progress(line: str) -> None:
        done.append(line)
        out_.message(f"run {line}")

    doc = run_replay(config, out, executor=executor, ray_address=ray_address, progress=progress)
    out_.result(doc, _render)


def _render(out: Any, doc: dict[str, Any]) -> None:
    settings = doc["settings"]
    out.message(
        f"[bold]{doc['path']}[/bold]  ({settings['model']}, {len(settings['tasks'])} task(s) × "
        f"{len(settings['seeds'])} seed(s), {settings['budget']} replay examples per run, "
        f"{settings['n_heldout']} held out / {settings['n_pool']} in the pool, "
        f"mode {settings['mode']})"
    )
    rows = []
    for name, s in doc["samplers"].items():
        reduction = s.get("reduction_vs_random")
        interval = (
            f"[{s['reduction_ci_low']:.3g}, {s['reduction_ci_high']:.3g}]"
            if reduction is not None and _finite(s.get("reduction_ci_low"))
            else None
        )
        rows.append(
            (
                name,
                s["n_runs"],
                _pm(s["heldout_forgetting_mean"], s["heldout_forgetting_std"]),
                _pm(s["pool_forgetting_mean"], s["pool_forgetting_std"]),
                _pm(s["task_loss_mean"], s["task_loss_std"]),
                reduction,
                interval,
            )
        )
    out.table(
        "forgetting by sampler (mean ± std over runs; reduction = random − sampler, held out)",
        ["sampler", "runs", "held-out", "pool", "task loss", "reduction", "95% CI"],
        rows,
    )
    if doc["tests"]:
        out.message("")
        out.table(
            "paired tests (difference a − b in held-out forgetting; < 0: a forgets less)",
            ["a vs b", "test", "n", "statistic", "p", "p (Holm)", "effect", "mean diff", "CI"],
            [
                (
                    f"{t['a']} vs {t['b']}",
                    f"{t['test']} / {t['unit']}",
                    t["n"],
                    t["statistic"],
                    t["p_value"],
                    t.get("p_holm"),
                    f"{_fmt(t['effect_size'])} ({t['effect_size_name']})",
                    t["mean_difference"],
                    f"[{_fmt(t['ci_low'])}, {_fmt(t['ci_high'])}]",
                )
                for t in doc["tests"]
            ],
        )
    if doc.get("prediction_spearman"):
        quality = ", ".join(f"{k} {v:.3f}" for k, v in doc["prediction_spearman"].items())
        out.message(f"Spearman of predicted vs measured pool forgetting: {quality}")
    out.message(f"written: {doc['path']}/replay.json")


def _finite(value: Any) -> bool:
    return isinstance(value, float) and value == value and abs(value) != float("inf")


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if _finite(value) else "-"


def _pm(mean: Any, std: Any) -> str:
    return f"{_fmt(mean)} ± {_fmt(std)}" if _finite(std) else _fmt(mean)


def register(app: typer.Typer) -> None:
    app.command("replay")(replay)
