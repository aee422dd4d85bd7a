"""The paper's format: an ``.npy`` matrix plus a ``.meta`` JSON naming the task groups.

The meta maps each group to the half-open row range it covers and its task names::

    {"flan": {"start": 0, "stop": 3, "tasks": ["a", "b", "c"]}, "tulu": {"start": 3, ...}}

The ranges must tile the rows exactly. ``.npy`` carries no example ids; columns are named
``"0" .. "N-1"``. Arrays are always loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from forgetmap.errors import DataFormatError, InputFileNotFoundError
from forgetmap.io._matrix import LabelledMatrix, checked_values, labelled


def meta_path_for(path: Path) -> Path:
    """Where the meta of ``path`` lives by convention: ``PATH.meta`` beside the matrix."""
    return path.with_name(path.name + ".meta")


def read_npy(path: Path, meta: Path | None = None) -> LabelledMatrix:
    """Read an ``.npy`` matrix and its meta (``meta``, else ``PATH.meta`` when present)."""
    source = str(path)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
    except OSError as error:
        raise DataFormatError(f"{source}: cannot be read ({error.strerror or error})") from None
    if magic.startswith(b"PK\x03\x04"):
        raise DataFormatError(f"{source}: an .npz archive, not a single .npy matrix")
    if magic != b"\x93NUMPY":
        raise DataFormatError(
            f"{source}: not a .npy file (it does not start with the .npy magic bytes); "
            "save the matrix with numpy.save, or name a CSV file .csv"
        )
    try:
        array = np.load(path, allow_pickle=False, mmap_mode=None)
    except ValueError as error:
        if "pickle" in str(error):
            raise DataFormatError(
                f"{source}: holds an object array, which would need unpickling; "
                "save a numeric matrix instead"
            ) from None
        raise DataFormatError(f"{source}: not a valid .npy file ({error})") from None
    except (OSError, EOFError) as error:
        raise DataFormatError(f"{source}: not a valid .npy file ({error})") from None
    if not isinstance(array, np.ndarray):
        raise DataFormatError(f"{source}: an .npz archive, not a single .npy matrix")
    values = checked_values(array, source)
    m, n = values.shape
    if meta is None and meta_path_for(path).exists():
        meta = meta_path_for(path)
    if meta is None:
        task_ids, groups = [str(i) for i in range(m)], None
    else:
        task_ids, groups = read_meta(meta, m)
    return labelled(values, task_ids, [str(j) for j in range(n)], groups, source)


def read_meta(path: Path, n_tasks: int) -> tuple[list[str], list[str]]:
    """Task ids and groups from a meta file whose ranges must tile ``n_tasks`` rows."""
    source = str(path)
    if not path.exists():
        raise InputFileNotFoundError(f"meta file {source!r} does not exist")
    try:
        document: Any = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataFormatError(f"{source}: not valid JSON ({error})") from None
    if not isinstance(document, dict) or not document:
        raise DataFormatError(f"{source}: expected {{group: {{start, stop, tasks}}}}")
    ranges = []
    for group, spec in document.items():
        if not isinstance(spec, dict) or not {"start", "stop"} <= spec.keys():
            raise DataFormatError(f"{source}: group {group!r} needs integer 'start' and 'stop'")
        start, stop = spec["start"], spec["stop"]
        if not (isinstance(start, int) and isinstance(stop, int)) or start >= stop:
            raise DataFormatError(f"{source}: group {group!r} has an empty or invalid range")
        tasks = spec.get("tasks")
        if tasks is None:
            tasks = [f"{group}/{k}" for k in range(stop - start)]
        if not isinstance(tasks, list) or len(tasks) != stop - start:
            count = len(tasks) if isinstance(tasks, list) else "no list of"
            raise DataFormatError(
                f"{source}: group {group!r} covers rows {start}..{stop} "
                f"({stop - start} tasks) but lists {count} task names"
            )
        ranges.append((start, stop, str(group), [str(task) for task in tasks]))
    ranges.sort()
    expected = 0
    for start, stop, group, _ in ranges:
        if start != expected:
            what = "overlaps" if start < expected else "leaves a gap before"
            raise DataFormatError(
                f"{source}: group {group!r} (rows {start}..{stop}) {what} row {expected}; "
                "the ranges must tile the rows"
            )
        expected = stop
    if expected != n_tasks:
        raise DataFormatError(
            f"{source}: the groups cover {expected} rows but the matrix has {n_tasks}"
        )
    task_ids = [task for _, _, _, tasks in ranges for task in tasks]
    groups = [group for start, stop, group, _ in ranges for _ in range(stop - start)]
    return task_ids, groups


def write_npy(matrix: LabelledMatrix, path: Path) -> list[Path]:
    """Write ``PATH`` and ``PATH.meta``; returns both paths."""
    from forgetmap.store import atomic_write, atomic_write_json

    def save(temp: Path) -> None:
        with open(temp, "wb") as handle:
            np.save(handle, matrix.values, allow_pickle=False)

    atomic_write(path, save)
    meta = meta_path_for(path)
    atomic_write_json(meta, meta_document(matrix))
    return [path, meta]


def meta_document(matrix: LabelledMatrix) -> dict[str, dict[str, Any]]:
    """The paper's meta for ``matrix``: one entry per contiguous run of the same group.

    Tasks without a group are put in a group named ``tasks``; a group that appears in several
    separate runs gets ``#2``, ``#3`` ... appended to keep the keys unique.
    """
    groups = matrix.groups or ["tasks"] * len(matrix.task_ids)
    document: dict[str, dict[str, Any]] = {}
    start = 0
    for stop in range(1, len(groups) + 1):
        if stop == len(groups) or groups[stop] != groups[start]:
            name, copy = groups[start], 2
            while name in document:
                name, copy = f"{groups[start]}#{copy}", copy + 1
            document[name] = {"start": start, "stop": stop, "tasks": matrix.task_ids[start:stop]}
            start = stop
    return document
