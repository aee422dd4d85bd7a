"""Small stores and hand-written stage results for the report tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import forgetmap

EVIL = '<script>window.__pwned=1</script> </script><img src=x onerror="window.__pwned=2"> & done'


def small_store(
    path: Path, *, n_tasks: int = 8, n_examples: int = 40, seed: int = 0, text_len=None
):
    """A store with rank-1 structure, groups, sources, texts (one malicious) and summaries."""
    rng = np.random.default_rng(seed)
    values = np.outer(rng.uniform(0.5, 1.5, n_tasks), rng.gamma(2.0, 0.3, n_examples))
    values += 0.05 * rng.normal(size=values.shape) - 0.05
    texts = [f"example text number {j}: the quick brown fox" for j in range(n_examples)]
    if text_len:
        texts = [(text * (text_len // len(text) + 1))[:text_len] for text in texts]
    texts[1] = EVIL
    task_ids = [f"task-{i}" for i in range(n_tasks - 1)] + ["</script><b>task</b>"]
    return forgetmap.create_store(
        path,
        task_ids,
        [f"ex{j}" for j in range(n_examples)],
        task_table={"group": ["alpha" if i % 2 else "beta" for i in range(n_tasks)]},
        example_table={
            "source": ["wiki" if j % 3 else "chat" for j in range(n_examples)],
            "text": texts,
        },
        config={"model": "tiny-random", "seed": 7, "note": "<script>alert(1)</script>"},
        kind="imported",
        forgetting=values.astype("float32"),
        summaries=[
            {"first_loss": 2.0 + i, "last_loss": 1.0, "loss_drop": 1.0 + i, "steps": 20}
            for i in range(n_tasks)
        ],
    )


def analysis_document(store) -> dict:
    """An ``analyze`` document in the contract's shape, with recognisable numbers."""
    tasks = list(store.task_ids)
    examples = list(store.example_ids)
    return {
        "fits": {"row_only": 0.11, "column_only": 0.22, "additive": 0.33, "multiplicative": 0.91},
        "rank_r2": {"1": 0.91, "2": 0.95, "3": 0.97},
        "singular_values": [9.0, 2.0, 1.0],
        "groups": [
            {
                "axis": "examples",
                "field": "source",
                "value": "<b>chat</b>",
                "statistic": 3.1,
                "p_value": 0.002,
                "q_value": 0.004,
            },
        ],
        "coclusters": [{"tasks": tasks[:2], "examples": examples[:500], "mean_residual": 0.25}],
        "correlations": {"length": {"pearson": 0.12, "spearman": 0.2}},
        "components": [
            {
                "index": 0,
                "singular_value": 9.0,
                "tasks": [{"id": tasks[0], "loading": 0.5}],
                "examples": [{"id": examples[1], "loading": 0.4}],
            },
        ],
        "tasks": [{"id": task, "mean": 0.123, "std": 0.01} for task in tasks],
        "most_forgotten": [{"id": examples[1], "mean": 1.5, "text": "<script>x</script>"}],
        "least_forgotten": [{"id": examples[2], "mean": -0.5, "text": "calm"}],
        "statistics": {"share_forgotten": 0.9, "nan_value": float("nan")},
    }


def evaluate_document() -> dict:
    return {
        "methods": {
            "mean": {"rmse": 0.3, "rmse_std": 0.01, "spearman": 0.1, "seconds": 0.01},
            "lowrank": {"rmse": 0.1, "rmse_std": 0.02, "spearman": 0.8, "seconds": 0.05},
        },
        "settings": {"k": 30, "seeds": 10, "split": "loo"},
        "scatter": {
            "lowrank": {"true": list(np.linspace(0, 1, 3000)), "predicted": [0.5] * 3000},
        },
    }


def replay_document() -> dict:
    return {
        "samplers": {
            "random": {
                "heldout_forgetting_mean": 0.4,
                "heldout_forgetting_std": 0.05,
                "task_loss_mean": 1.1,
            },
            "predicted": {
                "heldout_forgetting_mean": 0.3,
                "heldout_forgetting_std": 0.04,
                "task_loss_mean": 1.12,
            },
        },
        "tests": [
            {
                "a": "predicted",
                "b": "random",
                "statistic": 12.0,
                "p_value": 0.01,
                "effect_size": 0.4,
                "ci_low": -0.15,
                "ci_high": -0.05,
            },
        ],
    }
