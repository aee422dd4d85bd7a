"""Correlation of forgetting with the task–example similarities a store holds.

``forgetmap similarity`` saves each kind as an artifact ``similarity_<kind>`` of shape
(n_tasks, n_examples) aligned with the store; whatever is there is used. Pearson and Spearman
are taken over all entries where both forgetting and similarity are finite, or over a seeded
random sample of :data:`MAX_PAIRS` of them on very large matrices (ranking 10⁸ pairs buys no
precision that 2·10⁶ do not).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from forgetmap.analysis._statistics import correlation
from forgetmap.errors import AnalysisError

MAX_PAIRS = 2_000_000
PREFIX = "similarity_"


def stored_similarities(artifacts_dir: Path) -> list[str]:
    """Kinds of similarity saved in a store's artifacts folder, sorted."""
    if not artifacts_dir.is_dir():
        return []
    return sorted(
        path.name[len(PREFIX) : -len(".npy")]
        for path in artifacts_dir.glob(f"{PREFIX}*.npy")
        if not path.name.startswith(".")
    )


def similarity_correlation(
    values: np.ndarray, similarity: np.ndarray, name: str, *, seed: int
) -> dict[str, Any]:
    """Pearson and Spearman between ``values`` and ``similarity``, both (n_tasks, n_examples)."""
    if similarity.shape != values.shape:
        raise AnalysisError(
            f"similarity {name!r} has shape {similarity.shape}, the analysed matrix "
            f"{values.shape}; recompute it with `forgetmap similarity`"
        )
    size = values.size
    if size > MAX_PAIRS:
        rng = np.random.default_rng(seed)
        flat = np.sort(rng.choice(size, MAX_PAIRS, replace=False))
        x, y = values.reshape(-1)[flat], similarity.reshape(-1)[flat]
    else:
        x, y = values.reshape(-1), similarity.reshape(-1)
    result = correlation(x, y)
    result["sampled"] = bool(size > MAX_PAIRS)
    return result
