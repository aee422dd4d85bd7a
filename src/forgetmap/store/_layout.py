"""Names of the files inside a run directory, and the checks on ids that every writer shares.

A run directory (a local folder, or a prefix in an object store such as ``s3://bucket/run``)::

    RUN/
      forgetmap.json        manifest: format version, shape, metrics, dtype, fingerprint, config
      tasks.parquet         one row per task: id, group, and any metadata columns
      examples.parquet      one row per upstream example: id, source, text, n_tokens, ...
      matrix.zarr/          Zarr v3: forgetting/<metric>, after/<metric> (M×N); before/<metric> (N)
      rows/000012.json      done-marker of task row 12 (training summary, chunk checksums), last
      rows/000012.claim     while a writer computes row 12: its pid, host and time (collect)
      before.json           done-marker of the before-scores
      artifacts/            results of later stages (analysis.json, evaluate.json, ...)

A row counts as finished only when its marker exists; the marker is renamed into place after the
row's chunks are written, so a reader never sees half a row. Markers record the SHA-256 of the
chunks they mark, and the manifest those of the tables, so readers can refuse damaged files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from forgetmap.errors import DataFormatError

FORMAT_NAME = "forgetmap-store"
FORMAT_VERSION = 1

MANIFEST_FILE = "forgetmap.json"
TASKS_FILE = "tasks.parquet"
EXAMPLES_FILE = "examples.parquet"
MATRIX_DIR = "matrix.zarr"
ROWS_DIR = "rows"
BEFORE_MARKER = "before.json"
ARTIFACTS_DIR = "artifacts"

FORGETTING = "forgetting"
AFTER = "after"
BEFORE = "before"


def row_marker_name(index: int) -> str:
    """File name of the done-marker of task row ``index``."""
    return f"{index:06d}.json"


def validate_ids(ids: Sequence[object], what: str) -> list[str]:
    """Return ``ids`` as strings, refusing empty, non-string-like or duplicate ids."""
    result = [str(item) for item in ids]
    if not result:
        raise DataFormatError(f"no {what} ids given: a store needs at least one {what}")
    for item in result:
        if item == "" or item.strip() != item:
            raise DataFormatError(f"{what} id {item!r} is empty or has surrounding whitespace")
    duplicates = _duplicates(result)
    if duplicates:
        shown = ", ".join(repr(item) for item in duplicates[:5])
        raise DataFormatError(f"duplicate {what} ids: {shown} (ids must be unique)")
    return result


def _duplicates(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    repeated: list[str] = []
    for item in items:
        if item in seen and item not in repeated:
            repeated.append(item)
        seen.add(item)
    return repeated
