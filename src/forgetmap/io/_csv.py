"""Wide CSV: a header of example ids, then one row per task whose first cell is the task id.

Empty cells and ``nan`` mean not measured. Values are written with Python's shortest round-trip
representation, so export → import is bit-exact.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from forgetmap.errors import DataFormatError
from forgetmap.io._matrix import LabelledMatrix, checked_values, labelled

_NAN_CELLS = {"", "nan", "NaN", "NAN", "NA", "null"}


def read_csv(path: Path) -> LabelledMatrix:
    """Read a wide CSV matrix, refusing ragged rows and non-numeric cells (naming line and cell)."""
    source = str(path)
    task_ids: list[str] = []
    rows: list[np.ndarray] = []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or len(header) < 2:
                raise DataFormatError(f"{source}: needs a header row of example ids")
            example_ids = header[1:]
            width = len(header)
            for line, cells in enumerate(reader, start=2):
                if not cells:
                    continue
                if len(cells) != width:
                    raise DataFormatError(
                        f"{source}:{line}: {len(cells)} cells, the header has {width} (ragged row)"
                    )
                task_ids.append(cells[0])
                rows.append(_parse_numbers(cells[1:], source, line, example_ids))
    except UnicodeDecodeError as error:
        raise DataFormatError(f"{source}: not UTF-8 text ({error.reason})") from None
    except csv.Error as error:
        raise DataFormatError(f"{source}: malformed CSV ({error})") from None
    if not rows:
        raise DataFormatError(f"{source}: no task rows below the header")
    values = checked_values(np.vstack(rows), source)
    return labelled(values, task_ids, example_ids, None, source)


def _parse_numbers(cells: list[str], source: str, line: int, example_ids: list[str]) -> np.ndarray:
    cleaned = ["nan" if cell.strip() in _NAN_CELLS else cell for cell in cells]
    try:
        return np.array(cleaned, dtype=np.float64)
    except ValueError:
        for column, cell in enumerate(cleaned):
            try:
                float(cell)
            except ValueError:
                raise DataFormatError(
                    f"{source}:{line}: cell {cell!r} in column {example_ids[column]!r} "
                    "is not a number"
                ) from None
        raise


def write_csv(matrix: LabelledMatrix, path: Path) -> list[Path]:
    """Write ``matrix`` as a wide CSV atomically; returns the path."""
    from forgetmap.store import atomic_write

    def write(temp: Path) -> None:
        with open(temp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["task", *matrix.example_ids])
            for task_id, row in zip(matrix.task_ids, matrix.values, strict=True):
                # repr(float) is the shortest string that reads back to the same double; a
                # float32 value widened to double is exact, so both dtypes round-trip.
                writer.writerow([task_id, *map(repr, row.astype(np.float64).tolist())])

    atomic_write(path, write)
    return [path]
