"""From the runs of the replay experiment to its result document (``replay.json``).

A *run* is one (task, seed, sampler) fine-tuning: its forgetting of every upstream example and
the task's own loss afterwards. Samplers are compared on the same tasks and seeds, and on
held-out examples that no sampler ever replays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forgetmap.replay._samplers import SAMPLERS
from forgetmap.replay._stats import holm, paired_ttest, reduction_ci, wilcoxon_paired

__all__ = ["RunResult", "comparisons", "summarise"]

REFERENCE = "random"


@dataclass(frozen=True)
class RunResult:
    """One (task, seed, sampler) fine-tuning run.

    Attributes
    ----------
    forgetting : ndarray of shape (n_examples,)
        Forgetting of every upstream example (after − before mean NLL; positive = forgotten).
    task_loss : float
        Mean NLL of the task's own training examples after fine-tuning.
    """

    task: str
    seed: int
    sampler: str
    forgetting: np.ndarray
    task_loss: float


def comparisons(samplers: Sequence[str]) -> list[tuple[str, str]]:
    """The pairs ``(a, b)`` that are tested: every sampler against random replay, and random
    replay against no replay (does replaying help at all?)."""
    present = [s for s in SAMPLERS if s in samplers]
    pairs = []
    if REFERENCE in present:
        pairs += [(s, REFERENCE) for s in present if s not in (REFERENCE, "none")]
        if "none" in present:
            pairs.append((REFERENCE, "none"))
    elif "none" in present:
        pairs += [(s, "none") for s in present if s != "none"]
    return pairs


def summarise(
    runs: Sequence[RunResult],
    pool: np.ndarray,
    heldout: np.ndarray,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """The result document of the experiment.

    Parameters
    ----------
    runs : sequence of RunResult
    pool, heldout : ndarray of int
        Column indices of the replay pool and of the held-out examples.
    n_resamples, confidence, seed
        Of the bootstrap intervals.

    Returns
    -------
    dict with
    ``samplers``: {name: {heldout_forgetting_mean, heldout_forgetting_std, pool_forgetting_mean,
    pool_forgetting_std, task_loss_mean, task_loss_std, n_runs, and against random replay
    reduction, reduction_ci_low/high, relative_reduction, relative_reduction_ci_low/high}};
    ``tests``: [{a, b, test, unit, statistic, p_value, p_holm, mde_80, effect_size,
    effect_size_name, mean_difference, ci_low, ci_high, n}] where differences are ``a - b``
    in held-out forgetting (negative: ``a`` forgets less);
    ``runs``: one line per run.
    """
    pool = np.asarray(pool)
    heldout = np.asarray(heldout)
    by_sampler: dict[str, dict[tuple[str, int], RunResult]] = {}
    for run in runs:
        by_sampler.setdefault(run.sampler, {})[(run.task, run.seed)] = run
    names = [s for s in SAMPLERS if s in by_sampler]
    options = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    means = _RunMeans(pool, heldout)
    samplers = {name: _sampler_summary(name, by_sampler, means, options) for name in names}
    tests = [
        test
        for a, b in comparisons(names)
        for test in _paired_tests(a, b, by_sampler, means, heldout, options)
    ]
    for family in ("heldout_example", "run"):
        members = [t for t in tests if t["unit"] == family]
        for test, adjusted in zip(members, holm([t["p_value"] for t in members]), strict=True):
            test["p_holm"] = adjusted
    lines = [
        {
            "task": r.task,
            "seed": r.seed,
            "sampler": r.sampler,
            "heldout_forgetting_mean": means.heldout(r),
            "pool_forgetting_mean": means.pool(r),
            "task_loss": float(r.task_loss),
        }
        for r in sorted(runs, key=lambda r: (r.task, r.seed, SAMPLERS.index(r.sampler)))
    ]
    return {
        "samplers": samplers,
        "tests": tests,
        "runs": lines,
        "statistics": {
            **options,
            "n_heldout": int(heldout.size),
            "n_pool": int(pool.size),
            "difference": "a - b in held-out forgetting (negative: a forgets less)",
            "reference": REFERENCE,
        },
    }


class _RunMeans:
    """A run's mean forgetting over the held-out examples and over the replay pool."""

    def __init__(self, pool: np.ndarray, heldout: np.ndarray) -> None:
        self._pool, self._heldout = pool, heldout

    def heldout(self, run: RunResult) -> float:
        return float(np.nanmean(run.forgetting[self._heldout]))

    def pool(self, run: RunResult) -> float:
        return float(np.nanmean(run.forgetting[self._pool]))


def _sampler_summary(
    name: str,
    by_sampler: dict[str, dict[tuple[str, int], RunResult]],
    means: _RunMeans,
    options: dict[str, Any],
) -> dict[str, Any]:
    """Means and spreads over a sampler's runs, and its reduction against random replay."""
    units = list(by_sampler[name].values())
    held = np.array([means.heldout(r) for r in units])
    pooled = np.array([means.pool(r) for r in units])
    loss = np.array([r.task_loss for r in units])
    summary: dict[str, Any] = {
        "n_runs": len(units),
        "heldout_forgetting_mean": _mean(held),
        "heldout_forgetting_std": _std(held),
        "pool_forgetting_mean": _mean(pooled),
        "pool_forgetting_std": _std(pooled),
        "task_loss_mean": _mean(loss),
        "task_loss_std": _std(loss),
    }
    if REFERENCE in by_sampler and name != REFERENCE:
        keys = _common(by_sampler[REFERENCE], by_sampler[name])
        reduction = reduction_ci(
            np.array([means.heldout(by_sampler[REFERENCE][k]) for k in keys]),
            np.array([means.heldout(by_sampler[name][k]) for k in keys]),
            **options,
        )
        summary.update(
            {
                "reduction_vs_random": reduction["reduction"],
                "reduction_ci_low": reduction["ci_low"],
                "reduction_ci_high": reduction["ci_high"],
                "relative_reduction_vs_random": reduction["relative"],
                "relative_reduction_ci_low": reduction["relative_ci_low"],
                "relative_reduction_ci_high": reduction["relative_ci_high"],
            }
        )
    return summary


def _paired_tests(
    a: str,
    b: str,
    by_sampler: dict[str, dict[tuple[str, int], RunResult]],
    means: _RunMeans,
    heldout: np.ndarray,
    options: dict[str, Any],
) -> list[dict[str, Any]]:
    """``a`` against ``b`` over held-out examples (Wilcoxon) and over shared runs (paired t)."""
    keys = _common(by_sampler[a], by_sampler[b])
    if not keys:
        return []
    runs_a = [by_sampler[a][k] for k in keys]
    runs_b = [by_sampler[b][k] for k in keys]
    # Across held-out examples: each example's forgetting averaged over the shared runs.
    per_example_a = np.mean([r.forgetting[heldout] for r in runs_a], axis=0)
    per_example_b = np.mean([r.forgetting[heldout] for r in runs_b], axis=0)
    examples = wilcoxon_paired(per_example_a, per_example_b, **options)
    # Across task × seed runs: each run's mean held-out forgetting.
    per_run_a = np.array([means.heldout(r) for r in runs_a])
    per_run_b = np.array([means.heldout(r) for r in runs_b])
    over_runs = paired_ttest(per_run_a, per_run_b, **options)
    return [
        _test(a, b, "wilcoxon", "heldout_example", "rank_biserial", examples),
        _test(a, b, "paired_t", "run", "cohens_dz", over_runs),
    ]


def _test(a: str, b: str, test: str, unit: str, effect: str, result: dict) -> dict:
    return {
        "a": a,
        "b": b,
        "test": test,
        "unit": unit,
        "n": result["n"],
        "statistic": result["statistic"],
        "p_value": result["p_value"],
        "effect_size": result["effect_size"],
        "effect_size_name": effect,
        "mean_difference": result["mean_difference"],
        "mde_80": result.get("mde_80", float("nan")),
        "ci_low": result["ci_low"],
        "ci_high": result["ci_high"],
    }


def _common(a: dict, b: dict) -> list[tuple[str, int]]:
    return sorted(set(a) & set(b))


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if values.size else float("nan")


def _std(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if values.size > 1 else float("nan")
