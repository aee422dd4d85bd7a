"""The checks every analysis fit shares, and the column-block streaming it reads matrices with.

Streaming lives in :mod:`forgetmap.core` (``predict`` reads matrices the same way); it is
re-exported here for the analysis modules.
"""

from __future__ import annotations

import numpy as np

from forgetmap.core import CHUNK, check_matrix, column_blocks, float_block
from forgetmap.errors import AnalysisError

__all__ = ["CHUNK", "check_rank", "checked_matrix", "column_blocks", "float_block"]


def checked_matrix(values: np.ndarray) -> np.ndarray:
    """A float (n_tasks, n_examples) matrix with a measured entry, NaN where unmeasured."""
    return check_matrix(values, error=AnalysisError, what="matrix")


def check_rank(rank: int, shape: tuple[int, int]) -> None:
    limit = min(shape)
    if not 1 <= rank < limit:
        raise AnalysisError(
            f"rank {rank} must be at least 1 and below min(tasks, examples) = {limit}; "
            "use a smaller rank"
        )
