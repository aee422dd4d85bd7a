"""A forgetting matrix with its ids, as read from or written to a file, checked before writing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forgetmap.errors import DataFormatError
from forgetmap.store._layout import validate_ids


@dataclass(frozen=True)
class LabelledMatrix:
    """An M×N forgetting matrix with task ids, example ids and optional task groups.

    Attributes
    ----------
    values : ndarray of shape (n_tasks, n_examples)
        Float forgetting values; NaN means not measured.
    task_ids, example_ids : list of str
    groups : list of str or None
        The group (task family) of each task, in row order.
    """

    values: np.ndarray
    task_ids: list[str]
    example_ids: list[str]
    groups: list[str] | None = None

    def __post_init__(self) -> None:
        m, n = self.values.shape
        if len(self.task_ids) != m or len(self.example_ids) != n:
            raise DataFormatError(
                f"{len(self.task_ids)} task ids and {len(self.example_ids)} example ids "
                f"for a {m}×{n} matrix"
            )
        if self.groups is not None and len(self.groups) != m:
            raise DataFormatError(f"{len(self.groups)} task groups for {m} tasks")


def checked_values(array: np.ndarray, source: str) -> np.ndarray:
    """Validate a raw array as a forgetting matrix: 2-D, numeric, non-empty, no ±inf.

    Integer and boolean matrices (e.g. exact-match drops) become floats; float32 and float64 are
    kept as they are so that round trips stay bit-exact.
    """
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise DataFormatError(f"{source}: holds {array.dtype} values; a numeric matrix is needed")
    if array.ndim != 2:
        raise DataFormatError(
            f"{source}: a {array.ndim}-D array; a 2-D matrix (tasks × examples) is needed"
        )
    if 0 in array.shape:
        raise DataFormatError(f"{source}: the matrix is empty (shape {array.shape})")
    if array.dtype.kind in "biu":
        array = array.astype(np.float32 if array.dtype.itemsize <= 2 else np.float64)
    elif array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float32)
    infinite = np.isinf(array)
    if infinite.any():
        i, j = np.argwhere(infinite)[0]
        raise DataFormatError(
            f"{source}: {int(infinite.sum())} infinite value(s), first at row {i}, column {j}; "
            "use NaN for entries that were not measured"
        )
    return np.ascontiguousarray(array)


def labelled(
    values: np.ndarray,
    task_ids: list[str],
    example_ids: list[str],
    groups: list[str] | None,
    source: str,
) -> LabelledMatrix:
    """Build a :class:`LabelledMatrix`, naming ``source`` in any error."""
    try:
        tasks = validate_ids(task_ids, "task")
        examples = validate_ids(example_ids, "example")
    except DataFormatError as error:
        raise DataFormatError(f"{source}: {error}") from None
    return LabelledMatrix(values, tasks, examples, groups)
