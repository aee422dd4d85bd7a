"""The one check of a forgetting matrix that every fit starts with."""

from __future__ import annotations

from typing import Any

import numpy as np

from forgetmap.core._blocks import column_blocks
from forgetmap.errors import ForgetmapError

__all__ = ["check_matrix"]


def check_matrix(
    values: Any,
    *,
    error: type[ForgetmapError] = ForgetmapError,
    what: str = "forgetting matrix",
    min_rows: int = 1,
) -> np.ndarray:
    """A float matrix of shape (n_tasks, n_examples) with NaN for unmeasured entries.

    Integers and booleans become float64 and float16 becomes float32 (too coarse to sum a
    million entries in); float32 and float64 are returned as they are, never copied.

    Parameters
    ----------
    values : array-like of shape (n_tasks, n_examples)
    error : ForgetmapError subclass
        Raised for bad input (``AnalysisError``, ``PredictionError``): a non-numeric or
        non-2-D array, ±inf, or fewer than ``min_rows`` task rows with a measured entry.
    what : str
        What the message calls the matrix.
    min_rows : int
        Rows with at least one measured entry that the caller needs (1: any entry at all).
    """
    array = np.asarray(values)
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise error(f"the {what} holds {array.dtype} values; numbers are needed")
    if array.ndim != 2:
        raise error(f"the {what} must be 2-D (tasks × examples), got {array.ndim}-D")
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    elif array.dtype.itemsize < 4:
        array = array.astype(np.float32)
    rows_with_data = np.zeros(array.shape[0], dtype=bool)
    for cols in column_blocks(array.shape[1]):  # bounded temporaries on a large matrix
        block = array[:, cols]
        if np.isinf(block).any():
            raise error(f"the {what} holds ±inf; use NaN for unmeasured entries")
        rows_with_data |= np.isfinite(block).any(axis=1)
    n_rows = int(rows_with_data.sum())
    if n_rows < min_rows:
        verb = "is" if min_rows == 1 else "are"
        raise error(
            f"the {what} has {n_rows} task row(s) with measured entries; "
            f"at least {min_rows} {verb} needed"
        )
    return array
