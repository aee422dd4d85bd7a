"""Streaming over a forgetting matrix in column blocks.

Matrices are read in blocks of columns converted to float64, so a 100 × 1,000,000 float32
matrix needs no float64 copy of itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["CHUNK", "column_blocks", "float_block"]

#: Columns per block when streaming over the matrix (a 100-row float64 block is ~50 MB).
CHUNK = 1 << 16


def column_blocks(n: int, size: int = CHUNK) -> Iterator[slice]:
    """Consecutive column slices covering ``range(n)``."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def float_block(values: np.ndarray, cols: slice) -> tuple[np.ndarray, np.ndarray | None]:
    """A float64 column block, unmeasured entries as 0, and its measured mask (None: no NaN)."""
    block = np.asarray(values[:, cols], dtype=np.float64)
    finite = np.isfinite(block)
    if finite.all():
        return block, None
    return np.where(finite, block, 0.0), finite
