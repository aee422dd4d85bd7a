"""Streaming over a forgetting matrix in column blocks, and the checks every fit shares.

Matrices are read in blocks of columns converted to float64, so a 100 × 1,000,000 float32
matrix needs no float64 copy of itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from forgetmap.errors import AnalysisError

__all__ = ["CHUNK", "check_rank", "checked_matrix", "column_blocks", "float_block"]

#: Columns per block when streaming over the matrix (a 100-row float64 block is ~50 MB).
CHUNK = 1 << 16


def column_blocks(n: int, size: int = CHUNK) -> Iterator[slice]:
    """Consecutive column slices covering ``range(n)``."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def float_block(values: np.ndarray, cols: slice) -> tuple[np.ndarray, np.ndarray | None]:
    """A float64 column block and its measured mask (None when the block has no NaN)."""
    block = np.asarray(values[:, cols], dtype=np.float64)
    finite = np.isfinite(block)
    if finite.all():
        return block, None
    return np.where(finite, block, 0.0), finite


def checked_matrix(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 2 or values.dtype.kind != "f":
        raise AnalysisError(
            f"expected a 2-D float matrix (tasks × examples), got {values.dtype} {values.shape}"
        )
    return values


def check_rank(rank: int, shape: tuple[int, int]) -> None:
    limit = min(shape)
    if not 1 <= rank < limit:
        raise AnalysisError(
            f"rank {rank} must be at least 1 and below min(tasks, examples) = {limit}; "
            "use a smaller rank"
        )
