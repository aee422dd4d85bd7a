"""The result store of a replay experiment: one row per run, one column per upstream example.

Rows are the runs (``"<task>/seed<s>/<sampler>"``, grouped by sampler), so every run's
forgetting of every example is kept and a killed experiment resumes by skipping finished rows.
The store is labelled ``replay`` (:data:`RESULT_KIND`), not ``collected``: its rows are runs of
one experiment, not tasks whose forgetting later stages (forecast) can learn from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from forgetmap.replay._plan import ReplayPlan

__all__ = ["RESULT_KIND", "existing_store", "open_result_store"]

RESULT_KIND = "replay"


def open_result_store(plan: ReplayPlan, out: Path, n_tokens: list[int] | None = None) -> Any:
    """Create (or reopen, to resume) the result store of ``plan`` in ``out``."""
    from forgetmap.store import create_store

    ids = plan.example_ids
    split = np.full(len(ids), "pool", dtype=object)
    split[plan.heldout] = "heldout"
    example_table: dict[str, list[Any]] = {
        "source": [example.source for example in plan.upstream],
        "text": [example.display_text for example in plan.upstream],
        "kind": [example.kind for example in plan.upstream],
        "split": [str(s) for s in split],
    }
    if n_tokens is not None:
        example_table["n_tokens"] = [int(n) for n in n_tokens]
    return create_store(
        out,
        task_ids=[run.id for run in plan.runs],
        example_ids=ids,
        metrics=("nll",),
        task_table={
            "group": [run.sampler for run in plan.runs],
            "source": [run.task for run in plan.runs],
            "seed": [run.seed for run in plan.runs],
            "sampler": [run.sampler for run in plan.runs],
        },
        example_table=example_table,
        config={"replay": plan.config.to_dict()},
        dtype="float64",
        with_scores=True,
        kind=RESULT_KIND,
    )


def existing_store(out: Path) -> Any:
    """The store already in ``out``, or None when there is none."""
    from forgetmap.errors import StoreNotFoundError
    from forgetmap.store import open_store

    try:
        return open_store(out)
    except StoreNotFoundError:
        return None
