"""Generated forgetting matrices with known, planted structure.

They stand in for measured matrices wherever the structure must be known in advance: the offline
demo's first stage, tests of the analysis and prediction code, and benchmarks at scale. Nothing
here is measured from a model.
"""

from __future__ import annotations

import numpy as np

from forgetmap.io._matrix import LabelledMatrix


def planted_matrix(
    n_tasks: int = 24,
    n_examples: int = 400,
    *,
    n_groups: int = 3,
    rank: int = 3,
    block_tasks: int | None = None,
    block_examples: int | None = None,
    block_boost: float = 0.6,
    noise: float = 0.05,
    missing: float = 0.0,
    dtype: str = "float32",
    seed: int = 0,
) -> LabelledMatrix:
    """A forgetting matrix = multiplicative (rank-1) part + low-rank rest + one planted block.

    The rank-1 part is a task strength times an example susceptibility, as the paper finds; the
    ``rank - 1`` further components are weaker; the block adds ``block_boost`` to the first
    ``block_tasks`` tasks of the last group on ``block_examples`` random examples (the "specific
    subsets forgotten by specific tasks"). A small negative offset makes some entries improve.

    Returns a :class:`~forgetmap.io.LabelledMatrix` with tasks grouped ``g0``, ``g1``, ... in
    contiguous runs; example ids are ``ex00000`` ... A share ``missing`` of entries is NaN.
    """
    if n_tasks < 1 or n_examples < 1 or n_groups < 1 or rank < 1:
        raise ValueError("n_tasks, n_examples, n_groups and rank must be positive")
    rng = np.random.default_rng(seed)
    group_of_task = np.minimum(np.arange(n_tasks) * n_groups // n_tasks, n_groups - 1)
    group_scale = rng.uniform(0.5, 1.5, size=n_groups)
    strength = group_scale[group_of_task] * rng.lognormal(0.0, 0.3, size=n_tasks)  # (M,)
    susceptibility = rng.gamma(2.0, 0.25, size=n_examples)  # (N,)
    values = np.outer(strength, susceptibility)  # (M, N)
    for component in range(1, rank):
        scale = 0.3 / component
        values += scale * np.outer(rng.normal(size=n_tasks), rng.normal(size=n_examples)) / 2
    block_tasks = block_tasks if block_tasks is not None else max(1, n_tasks // (2 * n_groups))
    block_examples = block_examples if block_examples is not None else max(1, n_examples // 10)
    last_group = np.flatnonzero(group_of_task == n_groups - 1)[:block_tasks]
    block_columns = rng.choice(n_examples, size=min(block_examples, n_examples), replace=False)
    values[np.ix_(last_group, block_columns)] += block_boost
    values += noise * rng.normal(size=values.shape) - 0.05
    if missing > 0:
        values[rng.random(values.shape) < missing] = np.nan
    width = max(5, len(str(n_examples - 1)))
    return LabelledMatrix(
        values.astype(dtype),
        [f"task{i:03d}" for i in range(n_tasks)],
        [f"ex{j:0{width}d}" for j in range(n_examples)],
        [f"g{g}" for g in group_of_task],
    )
