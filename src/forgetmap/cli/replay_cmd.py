"""``forgetmap replay``: does replaying predicted-forgotten examples reduce forgetting?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from forgetmap.cli._options import (
    Executor,
    ExecutorOption,
    RayAddressOption,
    ThreadsOption,
    check_executor_options,
    output,
)
from forgetmap.cli._paths import check_output_dir


def replay(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Replay experiment config (TOML).")],
    out: Annotated[Path, typer.Option("--out", help="Result directory (resumed when rerun).")],
    executor: ExecutorOption = Executor.local,
    ray_address: RayAddressOption = None,
    threads: ThreadsOption = None,
) -> None:
    """Test targeted replay against random replay."""
    from forgetmap.replay import run_replay

    check_executor_options(executor, ray_address)
    out_ = output(ctx)
    check_output_dir(out, "--out")

    def progress(line: str) -> None:
        out_.message(f"run {line}")

    doc = run_replay(
        config,
        out,
        executor=executor.value,
        ray_address=ray_address,
        threads=threads,
        progress=progress,
    )
    out_.result(doc, _render)


def _render(out: Any, doc: dict[str, Any]) -> None:
    settings = doc["settings"]
    out.message(
        f"[bold]{doc['path']}[/bold]  {settings['model']}: {len(settings['tasks'])} task(s) × "
        f"{len(settings['seeds'])} seed(s) = {_runs(doc)} runs per sampler; "
        f"{settings['budget']} replay examples per run; "
        f"{settings['n_heldout']} held out, {settings['n_pool']} in the pool; {settings['mode']}"
    )
    out.table(
        "forgetting by sampler (mean over runs; reduction = random − sampler, held out)",
        ["sampler", "held-out", "sd", "pool", "task loss", "reduction", "relative"],
        [
            (
                name,
                _num(s["heldout_forgetting_mean"]),
                _num(s["heldout_forgetting_std"]),
                _num(s["pool_forgetting_mean"]),
                _num(s["task_loss_mean"]),
                _num(s.get("reduction_vs_random")),
                _percent(s.get("relative_reduction_vs_random")),
            )
            for name, s in doc["samplers"].items()
        ],
    )
    if doc["tests"]:
        out.message("")
        out.table(
            "paired tests of a − b in held-out forgetting (< 0: a forgets less)",
            ["a", "b", "over", "n", "p", "Holm", "MDE 80%", "effect", "95% CI of mean"],
            [
                (
                    t["a"],
                    t["b"],
                    "ex." if t["unit"] == "heldout_example" else "runs",
                    t["n"],
                    _fmt(t["p_value"], 2),
                    _fmt(t.get("p_holm"), 2),
                    _num(t.get("mde_80"), 3),
                    _num(t["effect_size"], 2),
                    f"{_num(t['ci_low'], 3)}…{_num(t['ci_high'], 3)}",
                )
                for t in doc["tests"]
            ],
        )
        out.message(
            "over held-out examples (ex.): Wilcoxon signed-rank, effect = rank-biserial; "
            "over task × seed runs: paired t, effect = Cohen's d_z; MDE 80%: the smallest "
            "|mean difference| the test finds 4 times in 5 at p < 0.05 with these units"
        )
    if doc.get("prediction_spearman"):
        quality = ", ".join(f"{k} {v:.3f}" for k, v in doc["prediction_spearman"].items())
        out.message(f"Spearman of predicted vs measured pool forgetting: {quality}")
    out.message(f"written: {doc['path']}/replay.json")


def _percent(value: Any) -> str:
    return f"{100 * value:.1f}%" if _finite(value) else "-"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and value == value and abs(value) != float("inf")


def _fmt(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if _finite(value) else "-"


def _num(value: Any, decimals: int = 4) -> str:
    return f"{value:.{decimals}f}" if _finite(value) else "-"


def _runs(doc: dict[str, Any]) -> int:
    return len(doc["settings"]["tasks"]) * len(doc["settings"]["seeds"])


def register(app: typer.Typer) -> None:
    app.command("replay")(replay)
