"""Long-format Parquet: one row per (task, example) pair with columns ``task``, ``example``,
``forgetting``.

Pairs that are absent, or whose value is null or NaN, are not measured. Export writes every pair
(NaN included, with dictionary-encoded ids) so the matrix shape survives the round trip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from forgetmap.errors import DataFormatError
from forgetmap.io._matrix import LabelledMatrix, checked_values, labelled

COLUMNS = ("task", "example", "forgetting")


def read_parquet(path: Path) -> LabelledMatrix:
    """Read a long-format Parquet file into a matrix (ids in order of first appearance)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = str(path)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise DataFormatError(f"{source}: not a valid Parquet file ({error})") from None
    missing = [name for name in COLUMNS if name not in schema.names]
    if missing:
        raise DataFormatError(
            f"{source}: missing column(s) {missing}; long format needs {list(COLUMNS)}"
        )
    value_type = schema.field("forgetting").type
    if not (pa.types.is_floating(value_type) or pa.types.is_integer(value_type)):
        raise DataFormatError(f"{source}: column 'forgetting' holds {value_type}, not numbers")
    table = pq.read_table(path, columns=list(COLUMNS))
    if table.num_rows == 0:
        raise DataFormatError(f"{source}: no rows")
    task_codes, task_ids = _codes(table.column("task"), source, "task", pd)
    example_codes, example_ids = _codes(table.column("example"), source, "example", pd)
    raw = table.column("forgetting").to_numpy(zero_copy_only=False)
    if raw.dtype.kind in "iu" and table.column("forgetting").null_count:
        raw = table.column("forgetting").cast(pa.float64()).to_numpy(zero_copy_only=False)
    values = checked_values(np.asarray(raw).reshape(-1, 1), source).ravel()
    m, n = len(task_ids), len(example_ids)
    flat = task_codes.astype(np.int64) * n + example_codes
    counts = np.bincount(flat, minlength=m * n)
    if (counts > 1).any():
        cell = int(np.flatnonzero(counts > 1)[0])
        raise DataFormatError(
            f"{source}: pair (task {task_ids[cell // n]!r}, example {example_ids[cell % n]!r}) "
            "appears more than once"
        )
    matrix = np.full(m * n, np.nan, dtype=values.dtype)
    matrix[flat] = values
    return labelled(matrix.reshape(m, n), task_ids, example_ids, None, source)


def _codes(column, source: str, name: str, pd) -> tuple[np.ndarray, list[str]]:
    if column.null_count:
        raise DataFormatError(f"{source}: column {name!r} has {column.null_count} empty id(s)")
    labels = column.to_pandas().astype(str)
    codes, uniques = pd.factorize(labels, sort=False)
    return codes, [str(item) for item in uniques]


def write_parquet(matrix: LabelledMatrix, path: Path) -> list[Path]:
    """Write ``matrix`` in long format atomically; returns the path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from forgetmap.store import atomic_write

    m, n = matrix.values.shape
    tasks = pa.DictionaryArray.from_arrays(
        pa.array(np.repeat(np.arange(m, dtype=np.int32), n)), pa.array(matrix.task_ids)
    )
    examples = pa.DictionaryArray.from_arrays(
        pa.array(np.tile(np.arange(n, dtype=np.int32), m)), pa.array(matrix.example_ids)
    )
    values = pa.array(matrix.values.ravel(), from_pandas=False)
    table = pa.table({"task": tasks, "example": examples, "forgetting": values})
    atomic_write(path, lambda temp: pq.write_table(table, temp))
    return [path]
