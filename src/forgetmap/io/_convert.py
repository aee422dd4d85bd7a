"""Import files into stores and export stores to files, choosing the format by extension."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from forgetmap.errors import (
    DataFormatError,
    InputFileNotFoundError,
    StoreConflictError,
    UnknownFormatError,
)
from forgetmap.io._csv import read_csv, write_csv
from forgetmap.io._matrix import LabelledMatrix
from forgetmap.io._npy import meta_path_for, read_npy, write_npy
from forgetmap.io._parquet import read_parquet, write_parquet
from forgetmap.store import ForgettingStore, create_store

FORMATS = (".npy", ".csv", ".parquet")

#: A metric name is one plain path segment: it names an array inside the store.
_METRIC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

_WRITERS: dict[str, Callable[[LabelledMatrix, Path], list[Path]]] = {
    ".npy": write_npy,
    ".csv": write_csv,
    ".parquet": write_parquet,
}


def _extension(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        shown = suffix or "no extension"
        raise UnknownFormatError(
            f"{str(path)!r}: unknown format ({shown}); use one of {', '.join(FORMATS)}"
        )
    return suffix


def read_matrix(
    path: str | os.PathLike[str], meta: str | os.PathLike[str] | None = None
) -> LabelledMatrix:
    """Read a forgetting matrix from ``.npy`` (+ meta), ``.csv`` or long ``.parquet``."""
    path = Path(path)
    suffix = _extension(path)
    if not path.is_file():
        raise InputFileNotFoundError(f"input file {str(path)!r} does not exist")
    if meta is not None and suffix != ".npy":
        raise UnknownFormatError(
            "a meta file goes with .npy matrices only (csv/parquet carry task ids)"
        )
    if suffix == ".npy":
        return read_npy(path, None if meta is None else Path(meta))
    if suffix == ".csv":
        return read_csv(path)
    return read_parquet(path)


def output_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files :func:`write_matrix` writes for ``path``: it, and its ``.meta`` for ``.npy``."""
    path = Path(path)
    suffix = _extension(path)
    return [path, meta_path_for(path)] if suffix == ".npy" else [path]


def check_metric_name(metric: str) -> str:
    """Refuse a metric name that is not a plain name (it becomes an array name in the store)."""
    if not isinstance(metric, str) or not _METRIC_NAME.fullmatch(metric):
        raise DataFormatError(
            f"metric name {metric!r} is not a plain name; use letters, digits, '_', '-' and "
            "'.' (not first), e.g. nll or exact_match"
        )
    return metric


def write_matrix(matrix: LabelledMatrix, path: str | os.PathLike[str]) -> list[Path]:
    """Write ``matrix`` to ``path`` in the format its extension names; returns the files written."""
    path = Path(path)
    writer = _WRITERS[_extension(path)]
    path.parent.mkdir(parents=True, exist_ok=True)
    return writer(matrix, path)


def import_matrix(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    meta: str | os.PathLike[str] | None = None,
    metric: str = "nll",
) -> ForgettingStore:
    """Import a matrix file into a new store at ``out``; everything is checked before writing.

    Importing the same matrix into the same directory again is a no-op; a directory holding any
    other store is refused.
    """
    check_metric_name(metric)
    matrix = read_matrix(path, meta)
    task_table = None if matrix.groups is None else {"group": matrix.groups}
    store = create_store(
        out,
        matrix.task_ids,
        matrix.example_ids,
        metrics=[metric],
        task_table=task_table,
        dtype=str(matrix.values.dtype),
        kind="imported",
        forgetting=matrix.values,
    )
    if not _same_values(store.forgetting(), matrix.values) or store.groups() != _groups(matrix):
        raise StoreConflictError(
            f"{str(out)!r} already holds a different store with the same ids; "
            "choose another output directory or delete it to start anew"
        )
    return store


def store_matrix(store: ForgettingStore, metric: str | None = None) -> LabelledMatrix:
    """The store's forgetting matrix with its ids and groups (unfinished rows are NaN)."""
    table = store.tasks_table()
    groups = None
    if "group" in table.columns:
        groups = [
            str(group) if group is not None and group == group else "tasks"
            for group in table["group"]
        ]
    return LabelledMatrix(
        store.forgetting(metric), list(store.task_ids), list(store.example_ids), groups
    )


def export_store(
    store: ForgettingStore, out: str | os.PathLike[str], *, metric: str | None = None
) -> list[Path]:
    """Export the forgetting matrix to ``out``: ``.npy`` (+ ``.meta``), ``.csv`` or ``.parquet``."""
    _extension(Path(out))
    return write_matrix(store_matrix(store, metric), out)


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def _groups(matrix: LabelledMatrix) -> dict[str, list[str]]:
    if matrix.groups is None:
        return {}
    groups: dict[str, list[str]] = {}
    for task, group in zip(matrix.task_ids, matrix.groups, strict=True):
        groups.setdefault(group, []).append(task)
    return groups
