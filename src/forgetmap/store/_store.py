"""The forgetting store: one run directory holding an M×N forgetting matrix and its tables.

Rows (tasks) are written independently, each one whole and then marked done, so several processes
(Ray workers, or a resumed run beside a crashed one) can fill one store without coordination and
without losing each other's work. See :mod:`forgetmap.store._layout` for the files, and
:mod:`forgetmap.store._location` for where they live: a local folder, or an object store.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import forgetmap.store._layout as layout
from forgetmap.errors import (
    StoreAccessError,
    StoreConflictError,
    StoreDamagedError,
    StoreError,
    StoreNotFoundError,
)
from forgetmap.store._atomic import TEMP_SUFFIX, atomic_write_json, json_bytes
from forgetmap.store._location import (
    FsspecLocation,
    LocalLocation,
    StoreLocation,
    StorePath,
    file_sha256,
    store_location,
)

if TYPE_CHECKING:
    import pandas as pd
    import zarr

__all__ = ["ForgettingStore", "create_store", "open_store"]

_FLOAT_DTYPES = ("float32", "float64")
_MANIFEST_KEYS = ("n_tasks", "n_examples", "metrics", "dtype", "kind", "has_scores", "fingerprint")
_ROW_HINT = (
    "re-run `forgetmap collect` with the same config to recompute damaged rows, or restore the file"
)
_TABLE_HINT = "restore the file, or collect or import the run again into a new directory"
#: Top-level names a store writes: an object-store prefix holding only these and no manifest is
#: an unfinished creation, which a new one may overwrite.
_LAYOUT_NAMES = frozenset(
    {
        layout.MANIFEST_FILE,
        layout.TASKS_FILE,
        layout.EXAMPLES_FILE,
        layout.MATRIX_DIR,
        layout.ROWS_DIR,
        layout.BEFORE_MARKER,
        layout.ARTIFACTS_DIR,
        "before.claim",
    }
)


class ForgettingStore:
    """An open run directory: the forgetting matrix, the before/after scores and their tables.

    Create one with :func:`create_store` and open an existing one with :func:`open_store`. Tasks
    are the rows (fine-tuning runs), examples the columns (upstream examples); both are named by
    stable string ids. ``forgetting = score_after - score_before``: positive means forgotten, NaN
    means not measured.
    """

    def __init__(
        self, path: str | os.PathLike[str] | StoreLocation, manifest: Mapping[str, Any]
    ) -> None:
        self._location = store_location(path)
        self._manifest = dict(manifest)
        self._tasks_table: pd.DataFrame | None = None
        self._examples_table: pd.DataFrame | None = None
        self._task_ids: tuple[str, ...] | None = None
        self._task_index: dict[str, int] | None = None
        self._example_ids: tuple[str, ...] | None = None
        self._zarr_root: zarr.Group | None = None
        self._verified: set[tuple[str, str | None]] = set()
        self._arrays: dict[str, Any] = {}

    def __repr__(self) -> str:
        m, n = self.shape
        return (
            f"ForgettingStore({self.url!r}, tasks={m}, examples={n}, "
            f"finished={len(self.finished())}, metrics={list(self.metrics)})"
        )

    # ------------------------------------------------------------------ description
    @property
    def path(self) -> Path | StorePath:
        """The run directory: a ``Path`` for a local store, a :class:`StorePath` (which joins
        with ``/`` and prints as its URL) for one in an object store. Use :attr:`url` in messages.
        """
        return self._location.path()

    @property
    def url(self) -> str:
        """Where the store is, as given: a local path or a URL such as ``s3://bucket/run``."""
        return self._location.url

    @property
    def location(self) -> StoreLocation:
        """The store's location: the operations on its files (local folder or fsspec URL)."""
        return self._location

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_tasks, n_examples)``."""
        return int(self._manifest["n_tasks"]), int(self._manifest["n_examples"])

    @property
    def metrics(self) -> tuple[str, ...]:
        """Names of the stored forgetting metrics; the first is the primary one (e.g. ``nll``)."""
        return tuple(self._manifest["metrics"])

    @property
    def dtype(self) -> np.dtype:
        """Floating dtype of the stored matrices."""
        return np.dtype(self._manifest["dtype"])

    @property
    def kind(self) -> str:
        """How the store was made: ``"imported"`` or ``"collected"``."""
        return str(self._manifest["kind"])

    @property
    def has_scores(self) -> bool:
        """Whether the store keeps before/after scores beside the forgetting matrix."""
        return bool(self._manifest["has_scores"])

    @property
    def config(self) -> dict[str, Any] | None:
        """The experiment config the store was created with (``None`` for imported matrices)."""
        config = self._manifest.get("config")
        return None if config is None else dict(config)

    @property
    def fingerprint(self) -> str:
        """Hash of what identifies the store: ids, metrics, dtype and config."""
        return str(self._manifest["fingerprint"])

    @property
    def manifest(self) -> dict[str, Any]:
        """A copy of the manifest (``forgetmap.json``)."""
        return json.loads(json.dumps(self._manifest))

    @property
    def task_ids(self) -> tuple[str, ...]:
        """Task ids in row order."""
        if self._task_ids is None:
            self._task_ids = tuple(self.tasks_table().index.astype(str))
        return self._task_ids

    @property
    def example_ids(self) -> tuple[str, ...]:
        """Example ids in column order."""
        if self._example_ids is None:
            self._example_ids = tuple(self.examples().index.astype(str))
        return self._example_ids

    def task_index(self, task: str | int) -> int:
        """Row index of ``task`` (a task id, or already an index)."""
        if isinstance(task, (int, np.integer)) and not isinstance(task, bool):
            index = int(task)
            if not 0 <= index < self.shape[0]:
                raise StoreError(f"task index {index} out of range for {self.shape[0]} tasks")
            return index
        if self._task_index is None:
            self._task_index = {task_id: i for i, task_id in enumerate(self.task_ids)}
        try:
            return self._task_index[str(task)]
        except KeyError:
            raise StoreError(
                f"unknown task {task!r}; the store has {self.shape[0]} tasks"
            ) from None

    # ------------------------------------------------------------------ progress
    def finished_mask(self) -> np.ndarray:
        """Boolean array of shape (n_tasks,): True where the task row is written and marked done."""
        mask = np.zeros(self.shape[0], dtype=bool)
        try:
            names = self._location.listdir(layout.ROWS_DIR)
        except FileNotFoundError:
            if self._location.local_path is not None:
                raise self._rows_damaged() from None
            names = []  # an object store has no empty folders: no marker written yet
        except OSError:
            raise self._rows_damaged() from None
        for name in names:
            stem = name[: -len(".json")]
            if name.endswith(".json") and stem.isdigit():
                index = int(stem)
                if 0 <= index < len(mask):
                    mask[index] = True
        return mask

    def _rows_damaged(self) -> StoreDamagedError:
        return self._damaged(layout.ROWS_DIR, "is missing or unreadable", _ROW_HINT)

    def finished(self) -> list[str]:
        """Ids of the finished task rows, in row order."""
        ids = self.task_ids
        return [ids[i] for i in np.flatnonzero(self.finished_mask())]

    def missing(self) -> list[str]:
        """Ids of the task rows not written yet, in row order."""
        ids = self.task_ids
        return [ids[i] for i in np.flatnonzero(~self.finished_mask())]

    def is_finished(self, task: str | int) -> bool:
        """Whether ``task``'s row is written and marked done."""
        return self._location.exists(self._row_marker(self.task_index(task)))

    # ------------------------------------------------------------------ writing
    def write_row(
        self,
        task: str | int,
        forgetting: np.ndarray | Mapping[str, np.ndarray],
        *,
        after: Mapping[str, np.ndarray] | None = None,
        summary: Mapping[str, Any] | None = None,
    ) -> None:
        """Write one task row whole, then mark it done.

        Parameters
        ----------
        task : str or int
            Task id or row index.
        forgetting : ndarray of shape (n_examples,), or {metric: ndarray}
            The row of forgetting values; a bare array is the primary metric.
        after : {metric: ndarray of shape (n_examples,)}, optional
            Scores after fine-tuning, for stores created ``with_scores``.
        summary : mapping, optional
            JSON-serialisable metadata of the row (e.g. the training summary).

        Rewriting a finished row replaces it. Concurrent writers of *different* rows never
        interfere: each row lives in its own chunk files and its own marker.
        """
        index = self.task_index(task)
        values = self._metric_rows(forgetting, "forgetting")
        scores = self._metric_rows(after, "after") if after is not None else {}
        if scores and not self.has_scores:
            raise StoreError("this store keeps no scores; create it with with_scores=True")
        marker = self._row_marker(index)
        self._location.remove(marker)  # a rewritten row is unfinished until its data is complete
        written = [(layout.FORGETTING, metric, row) for metric, row in values.items()]
        written += [(layout.AFTER, metric, row) for metric, row in scores.items()]
        checksums = {}
        for kind, metric, row in written:
            self._array(kind, metric)[index, :] = row
            checksums[f"{kind}/{metric}"] = self._hash(self._chunk_key(kind, metric, index))
        self._write_json(
            marker,
            {
                "task": self.task_ids[index],
                "index": index,
                "written_at": _now(),
                "summary": dict(summary or {}),
                "checksums": checksums,
            },
        )

    def write_before(self, before: Mapping[str, np.ndarray]) -> None:
        """Store the before-scores (a vector of shape (n_examples,) per metric), then mark them."""
        if not self.has_scores:
            raise StoreError("this store keeps no scores; create it with with_scores=True")
        rows = self._metric_rows(before, "before")
        marker = layout.BEFORE_MARKER
        self._location.remove(marker)
        checksums = {}
        for metric, row in rows.items():
            self._array(layout.BEFORE, metric)[:] = row
            checksums[f"{layout.BEFORE}/{metric}"] = self._hash(
                self._chunk_key(layout.BEFORE, metric, None)
            )
        self._write_json(
            marker, {"written_at": _now(), "metrics": sorted(rows), "checksums": checksums}
        )

    def has_before(self) -> bool:
        """Whether the before-scores have been written."""
        return self._location.exists(layout.BEFORE_MARKER)

    # ------------------------------------------------------------------ reading
    def forgetting(self, metric: str | None = None, *, finished_only: bool = False) -> np.ndarray:
        """The forgetting matrix of ``metric`` (default: the primary one).

        Returns an ndarray of shape (n_tasks, n_examples), NaN in rows not finished yet; with
        ``finished_only`` only the finished rows, in row order (see :meth:`finished`).
        """
        return self._read_matrix(layout.FORGETTING, metric, finished_only)

    def after(self, metric: str | None = None, *, finished_only: bool = False) -> np.ndarray:
        """Scores after fine-tuning, ndarray of shape (n_tasks, n_examples)."""
        self._require_scores()
        return self._read_matrix(layout.AFTER, metric, finished_only)

    def before(self, metric: str | None = None) -> np.ndarray:
        """Scores of the base model, ndarray of shape (n_examples,); NaN until written."""
        self._require_scores()
        metric = self._metric(metric)
        marker = self._read_marker(layout.BEFORE_MARKER, "the before-scores")
        if marker is None:
            return np.full(self.shape[1], np.nan, dtype=self.dtype)
        problem = self._check_chunk(layout.BEFORE, metric, None, marker)
        if problem is not None:
            raise StoreDamagedError(problem)
        return self._read_chunks(layout.BEFORE, metric, None)

    def row(self, task: str | int, metric: str | None = None) -> np.ndarray:
        """The forgetting row of one task, ndarray of shape (n_examples,); NaN if unfinished."""
        index = self.task_index(task)
        metric = self._metric(metric)
        marker = self._row(index)
        if marker is None:
            return np.full(self.shape[1], np.nan, dtype=self.dtype)
        problem = self._check_chunk(layout.FORGETTING, metric, index, marker)
        if problem is not None:
            raise StoreDamagedError(problem)
        return self._read_chunks(layout.FORGETTING, metric, [index])[0]

    def summary(self, task: str | int) -> dict[str, Any] | None:
        """The metadata written with a task's row, or ``None`` if the row is unfinished."""
        marker = self._row(self.task_index(task))
        if marker is None:
            return None
        return dict(marker.get("summary") or {})

    def tasks_table(self) -> pd.DataFrame:
        """The static task table (index ``task``; columns such as ``group``) as created."""
        if self._tasks_table is None:
            self._tasks_table = self._read_table(layout.TASKS_FILE, "task")
        return self._tasks_table.copy()

    def tasks(self) -> pd.DataFrame:
        """Task table with progress: the static columns, ``finished``, and the row summaries.

        Summary fields are flattened into columns (``{"train": {"loss": 1}}`` → ``train.loss``).
        """
        import pandas as pd

        table = self.tasks_table()
        mask = self.finished_mask()
        table["finished"] = mask
        records = {}
        for index in np.flatnonzero(mask):
            summary = self.summary(int(index))
            if summary:
                records[self.task_ids[index]] = _flatten(summary)
        if records:
            extra = pd.DataFrame.from_dict(records, orient="index")
            extra = extra[[column for column in extra.columns if column not in table.columns]]
            table = table.join(extra)
        return table

    def examples(self) -> pd.DataFrame:
        """The example table (index ``example``; columns such as ``source``, ``text``)."""
        if self._examples_table is None:
            self._examples_table = self._read_table(layout.EXAMPLES_FILE, "example")
        return self._examples_table.copy()

    def groups(self) -> dict[str, list[str]]:
        """Task ids by their ``group`` column, in row order (empty if tasks have no group)."""
        table = self.tasks_table()
        if "group" not in table.columns:
            return {}
        groups: dict[str, list[str]] = {}
        for task_id, group in zip(table.index, table["group"], strict=True):
            if group is not None and group == group:
                groups.setdefault(str(group), []).append(str(task_id))
        return groups

    # ------------------------------------------------------------------ artifacts
    @property
    def artifacts_dir(self) -> Path | StorePath:
        """Folder for the results of later stages (analysis, evaluation, replay, similarity)."""
        self._location.makedirs(layout.ARTIFACTS_DIR)
        return self._location.path(layout.ARTIFACTS_DIR)

    def artifact_path(self, file_name: str) -> Path | StorePath:
        """Where the artifact file ``file_name`` (e.g. ``analysis.json``) is, for messages."""
        return self._location.path(f"{layout.ARTIFACTS_DIR}/{_artifact_name(file_name)}")

    def save_json(self, name: str, document: Any) -> Path | StorePath:
        """Write ``artifacts/<name>.json`` atomically and return its path."""
        rel = f"{layout.ARTIFACTS_DIR}/{_artifact_name(name)}.json"
        self._location.makedirs(layout.ARTIFACTS_DIR)
        self._write_json(rel, document)
        return self._location.path(rel)

    def load_json(self, name: str) -> Any | None:
        """Read ``artifacts/<name>.json``, or ``None`` when absent."""
        rel = f"{layout.ARTIFACTS_DIR}/{_artifact_name(name)}.json"
        try:
            data = self._location.read_bytes(rel)
        except FileNotFoundError:
            return None
        return json.loads(data.decode())

    def save_array(self, name: str, array: np.ndarray) -> Path | StorePath:
        """Write ``artifacts/<name>.npy`` atomically (never pickled) and return its path."""
        rel = f"{layout.ARTIFACTS_DIR}/{_artifact_name(name)}.npy"
        data = np.asarray(array)
        if data.dtype == object:
            raise StoreError(f"artifact {name!r} has object dtype; store numbers only")
        self._location.makedirs(layout.ARTIFACTS_DIR)
        self._location.write_with(rel, lambda temp: _save_npy(temp, data))
        return self._location.path(rel)

    def load_array(self, name: str) -> np.ndarray | None:
        """Read ``artifacts/<name>.npy`` (with ``allow_pickle=False``), or ``None`` when absent."""
        rel = f"{layout.ARTIFACTS_DIR}/{_artifact_name(name)}.npy"
        try:
            data = self._location.read_bytes(rel)
        except FileNotFoundError:
            return None
        return np.load(io.BytesIO(data), allow_pickle=False)

    # ------------------------------------------------------------------ internals
    def _zarr(self) -> zarr.Group:
        if self._zarr_root is None:
            import zarr

            store = self._location.zarr_store(layout.MATRIX_DIR)
            self._zarr_root = zarr.open_group(store, mode="r+")
        return self._zarr_root

    def _row_marker(self, index: int) -> str:
        return f"{layout.ROWS_DIR}/{layout.row_marker_name(index)}"

    def _hash(self, rel: str) -> str | None:
        return _hash(self._location, rel)

    def _write_json(self, rel: str, document: Any) -> None:
        if self._location.local_path is not None:
            atomic_write_json(self._location.path(rel), document)
        else:
            self._location.write_bytes(rel, json_bytes(document))

    def _metric(self, metric: str | None) -> str:
        if metric is None:
            return self.metrics[0]
        if metric not in self.metrics:
            raise StoreError(f"unknown metric {metric!r}; the store has {list(self.metrics)}")
        return metric

    def _require_scores(self) -> None:
        if not self.has_scores:
            raise StoreError(
                f"store {self.url!r} holds forgetting only (it was {self.kind}), no scores"
            )

    def _metric_rows(
        self, rows: np.ndarray | Mapping[str, np.ndarray], what: str
    ) -> dict[str, np.ndarray]:
        if not isinstance(rows, Mapping):
            rows = {self.metrics[0]: rows}
        result = {}
        n = self.shape[1]
        for metric, row in rows.items():
            metric = self._metric(metric)
            array = np.asarray(row, dtype=self.dtype)
            if array.shape != (n,):
                raise StoreError(
                    f"{what} row of {metric!r} has shape {array.shape}, expected ({n},)"
                )
            if np.isinf(array).any():
                raise StoreError(f"{what} row of {metric!r} holds ±inf; use NaN for missing")
            result[metric] = array
        return result

    def _read_matrix(self, kind: str, metric: str | None, finished_only: bool) -> np.ndarray:
        metric = self._metric(metric)
        mask = self.finished_mask()
        for index in np.flatnonzero(mask):
            marker = self._row(int(index))
            if marker is None:  # rewritten by another writer just now: unfinished
                mask[index] = False
                continue
            problem = self._check_chunk(kind, metric, int(index), marker)
            if problem is not None:
                raise StoreDamagedError(problem)
        rows = np.flatnonzero(mask)
        # Only chunks of finished rows are read: an unfinished row may be torn mid-write.
        data = (
            self._read_chunks(kind, metric, None if len(rows) == len(mask) else list(rows))
            if len(rows)
            else np.empty((0, self.shape[1]), dtype=self.dtype)
        )
        if finished_only or len(rows) == len(mask):
            return data
        full = np.full(self.shape, np.nan, dtype=self.dtype)
        full[rows] = data
        return full

    # ------------------------------------------------------------------ integrity
    def verify(self) -> list[str]:
        """Check every file of the store; returns one line per damaged file (empty: all fine).

        Reads the tables, every array's metadata, every done-marker and every finished row's
        chunks (and the before-scores), comparing them with their recorded checksums. Files
        written by versions that recorded no checksum are only checked to be readable.
        """
        problems: list[str] = []
        for name, key in ((layout.TASKS_FILE, "task"), (layout.EXAMPLES_FILE, "example")):
            try:
                self._read_table(name, key)
            except StoreDamagedError as error:
                problems.append(str(error))
        kinds = [layout.FORGETTING] + ([layout.AFTER] if self.has_scores else [])
        arrays_ok = True
        for kind in kinds + ([layout.BEFORE] if self.has_scores else []):
            for metric in self.metrics:
                try:
                    self._array(kind, metric)
                except StoreDamagedError as error:
                    problems.append(str(error))
                    arrays_ok = False
        if not arrays_ok:
            return problems
        try:
            mask = self.finished_mask()
        except StoreDamagedError as error:
            return [*problems, str(error)]
        for index in np.flatnonzero(mask):
            problems += self._row_problems(int(index), kinds)
        if self.has_scores:
            try:
                marker = self._read_marker(layout.BEFORE_MARKER, "the before-scores")
            except StoreDamagedError as error:
                problems.append(str(error))
                marker = None
            for metric in self.metrics if marker is not None else ():
                problem = self._check_chunk(layout.BEFORE, metric, None, marker, decode=True)
                if problem is not None:
                    problems.append(problem)
        return problems

    def damaged_rows(self) -> dict[int, str]:
        """Finished rows whose done-marker or chunks are damaged: {row index: what is wrong}."""
        kinds = [layout.FORGETTING] + ([layout.AFTER] if self.has_scores else [])
        damaged = {}
        for index in np.flatnonzero(self.finished_mask()):
            problems = self._row_problems(int(index), kinds, decode=False)
            if problems:
                damaged[int(index)] = problems[0]
        return damaged

    def before_damage(self) -> str | None:
        """What is wrong with the stored before-scores, or ``None`` (also when not written)."""
        if not self.has_scores:
            return None
        try:
            marker = self._read_marker(layout.BEFORE_MARKER, "the before-scores")
        except StoreDamagedError as error:
            return str(error)
        if marker is None:
            return None
        for metric in self.metrics:
            problem = self._check_chunk(layout.BEFORE, metric, None, marker, decode=False)
            if problem is not None:
                return problem
        return None

    def unmark_row(self, task: str | int) -> None:
        """Delete a row's done-marker, so the row counts as unfinished (to recompute it)."""
        self._location.remove(self._row_marker(self.task_index(task)))

    def unmark_before(self) -> None:
        """Delete the before-scores' done-marker, so they count as not written."""
        self._location.remove(layout.BEFORE_MARKER)

    def _row_problems(self, index: int, kinds: Sequence[str], decode: bool = True) -> list[str]:
        try:
            marker = self._row(index)
        except StoreDamagedError as error:
            return [str(error)]
        if marker is None:
            return []
        problems = []
        for kind in kinds:
            for metric in self.metrics:
                problem = self._check_chunk(kind, metric, index, marker, decode=decode)
                if problem is not None:
                    problems.append(problem)
        return problems

    def _row(self, index: int) -> dict[str, Any] | None:
        return self._read_marker(self._row_marker(index), f"row {self.task_ids[index]!r}")

    def _read_marker(self, path: str, what: str) -> dict[str, Any] | None:
        try:
            document = json.loads(self._location.read_bytes(path))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            document = None
        if not isinstance(document, dict) or not isinstance(document.get("summary", {}), dict):
            raise self._damaged(path, f"(the done-marker of {what}) is not valid JSON", _ROW_HINT)
        return document

    def _chunk_key(self, kind: str, metric: str, index: int | None) -> str:
        """Key of a row's chunk (the before-scores' for ``index=None``) inside the store."""
        coords = (0,) if index is None else (index, 0)
        key = self._array(kind, metric).metadata.encode_chunk_key(coords)
        return f"{layout.MATRIX_DIR}/{kind}/{metric}/{key}"

    def _check_chunk(
        self,
        kind: str,
        metric: str,
        index: int | None,
        marker: Mapping[str, Any],
        *,
        decode: bool = False,
    ) -> str | None:
        """What is wrong with a finished row's (or the before-scores') chunk, or ``None``.

        Compared with the checksum in its done-marker; a marker without one (older stores) is
        not verified. Each chunk is hashed once per store object for the same checksum.
        """
        checksums = marker.get("checksums")
        key = f"{kind}/{metric}"
        path = self._chunk_key(kind, metric, index)
        what = "the before-scores" if index is None else f"row {self.task_ids[index]!r}"
        hint = _ROW_HINT if self.kind == "collected" else _TABLE_HINT
        if isinstance(checksums, Mapping) and key in checksums:
            expected = checksums[key]
            cache = (path, expected)
            if cache in self._verified:
                return None
            actual = self._hash(path)
            if actual != expected:
                if actual is None:
                    return str(self._damaged(path, f"(data of {what}) is missing", hint))
                return str(
                    self._damaged(
                        path, f"(data of {what}) differs from its recorded checksum", hint
                    )
                )
            self._verified.add(cache)
            return None
        if decode:  # no checksum recorded: at least check the chunk reads
            try:
                self._read_chunks(kind, metric, None if index is None else [index])
            except StoreDamagedError as error:
                return str(error)
        return None

    def _array(self, kind: str, metric: str) -> Any:
        name = f"{kind}/{metric}"
        if name in self._arrays:
            return self._arrays[name]
        where = f"{layout.MATRIX_DIR}/{kind}/{metric}/zarr.json"
        try:
            array = self._zarr()[name]
        except Exception:  # zarr raises KeyError, FileNotFoundError, its own errors, ...
            self._zarr_root = None
            hint = _TABLE_HINT
            raise self._damaged(where, "(array metadata) is missing or unreadable", hint) from None
        m, n = self.shape
        shape, chunks = ((n,), (n,)) if kind == layout.BEFORE else ((m, n), (1, n))
        if (
            tuple(array.shape) != shape
            or tuple(array.chunks) != chunks
            or array.dtype != self.dtype
            or not hasattr(array, "metadata")
        ):
            self._zarr_root = None
            what = f"(array metadata) does not match the manifest (shape {array.shape})"
            raise self._damaged(where, what, _TABLE_HINT)
        self._arrays[name] = array
        return array

    def _read_chunks(self, kind: str, metric: str, rows: list[int] | None) -> np.ndarray:
        """Rows ``rows`` of an array (all of it for ``None``), naming the chunk that fails."""
        array = self._array(kind, metric)
        try:
            if rows is None:
                return np.asarray(array[:])
            return np.asarray(array.get_orthogonal_selection((rows, slice(None))))
        except Exception:
            pass
        hint = _ROW_HINT if self.kind == "collected" else _TABLE_HINT
        for index in [None] if kind == layout.BEFORE else rows or range(self.shape[0]):
            try:
                np.asarray(array[:] if index is None else array[index, :])
            except Exception:
                path = self._chunk_key(kind, metric, index)
                raise self._damaged(path, "(a matrix chunk) cannot be read", hint) from None
        where = f"{layout.MATRIX_DIR}/{kind}/{metric}"
        raise self._damaged(where, "cannot be read", hint)

    def _read_table(self, name: str, key: str) -> pd.DataFrame:
        path = name
        expected = (self._manifest.get("checksums") or {}).get(name)
        if expected is not None and (path, expected) not in self._verified:
            actual = self._hash(path)
            if actual is None:
                raise self._damaged(path, "is missing", _TABLE_HINT)
            if actual != expected:
                raise self._damaged(path, "differs from its recorded checksum", _TABLE_HINT)
        try:
            frame = _read_table(self._location, path, key)
        except FileNotFoundError:
            raise self._damaged(path, "is missing", _TABLE_HINT) from None
        except Exception:  # pyarrow raises many kinds on garbled files
            raise self._damaged(path, "is not a readable parquet table", _TABLE_HINT) from None
        count = self.shape[0 if key == "task" else 1]
        if len(frame) != count or not frame.index.is_unique:
            what = f"has {len(frame)} rows (unique ids expected), the manifest says {count}"
            raise self._damaged(path, what, _TABLE_HINT)
        if expected is not None:
            self._verified.add((path, expected))
        return frame

    def _damaged(self, rel: str, what: str, hint: str) -> StoreDamagedError:
        """The error for a damaged file, named by its key ``rel`` inside the store."""
        return StoreDamagedError(f"store file {self._location.display(rel)!r} {what}; {hint}")


def open_store(path: str | os.PathLike[str] | StoreLocation) -> ForgettingStore:
    """Open the store in run directory ``path`` (a local path, or a URL such as ``s3://b/run``).

    Raises :class:`~forgetmap.errors.StoreNotFoundError` when ``path`` holds no store.
    """
    location = store_location(path)
    shown = location.url
    manifest_path = location.display(layout.MANIFEST_FILE)
    if location.is_file():
        raise StoreNotFoundError(
            f"{shown!r} is a file, not a run directory; pass the folder of a forgetmap store"
        )
    try:
        manifest = json.loads(location.read_bytes(layout.MANIFEST_FILE).decode())
    except FileNotFoundError:
        what = "does not exist" if not location.exists() else "holds no forgetmap store"
        raise StoreNotFoundError(
            f"{shown!r} {what}; create one with `forgetmap import` or `forgetmap collect`"
        ) from None
    except StoreAccessError:
        raise
    except (ValueError, OSError) as error:
        raise StoreDamagedError(
            f"{manifest_path!r} is not valid JSON ({error}); restore the file"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != layout.FORMAT_NAME:
        raise StoreError(f"{manifest_path!r} is not a forgetmap store manifest")
    if int(manifest.get("version", 0)) > layout.FORMAT_VERSION:
        raise StoreError(
            f"store {shown!r} has format version {manifest['version']}; "
            "upgrade forgetmap to read it"
        )
    missing = [key for key in _MANIFEST_KEYS if key not in manifest]
    if missing:
        raise StoreDamagedError(
            f"store manifest {manifest_path!r} lacks {', '.join(missing)}; restore the file"
        )
    metrics = manifest["metrics"]
    if not (
        all(
            isinstance(manifest[key], int) and manifest[key] > 0
            for key in ("n_tasks", "n_examples")
        )
        and isinstance(metrics, list)
        and metrics
        and all(isinstance(metric, str) for metric in metrics)
        and manifest["dtype"] in _FLOAT_DTYPES
    ):
        raise StoreDamagedError(
            f"store manifest {manifest_path!r} has invalid shape, metrics or dtype; "
            "restore the file"
        )
    required = [layout.TASKS_FILE, layout.EXAMPLES_FILE, layout.MATRIX_DIR]
    if location.local_path is not None:  # an object store keeps no empty rows/ folder
        required.append(layout.ROWS_DIR)
    for name in required:
        if not location.exists(name):
            hint = _ROW_HINT if name == layout.ROWS_DIR else _TABLE_HINT
            raise StoreDamagedError(f"store file {location.display(name)!r} is missing; {hint}")
    return ForgettingStore(location, manifest)


def create_store(
    path: str | os.PathLike[str] | StoreLocation,
    task_ids: Sequence[str],
    example_ids: Sequence[str],
    *,
    metrics: Sequence[str] = ("nll",),
    task_table: pd.DataFrame | Mapping[str, Sequence[Any]] | None = None,
    example_table: pd.DataFrame | Mapping[str, Sequence[Any]] | None = None,
    config: Mapping[str, Any] | None = None,
    dtype: str = "float32",
    with_scores: bool = False,
    kind: str = "collected",
    forgetting: np.ndarray | Mapping[str, np.ndarray] | None = None,
    summaries: Sequence[Mapping[str, Any]] | None = None,
    exist_ok: bool = True,
) -> ForgettingStore:
    """Create a store in ``path`` (or open the identical one already there, for resuming).

    In a local folder the store is built in a temporary sibling folder and renamed into place,
    so ``path`` either holds a complete, valid store or nothing. In an object store (``path`` a
    URL such as ``s3://bucket/run``), which cannot rename folders, every file is written in
    place and the manifest last: until the manifest exists the prefix holds no store, and a
    later create finishes an interrupted one. When ``forgetting`` (ndarray of shape (n_tasks,
    n_examples), or one per metric) is given, every row is written and marked done before the
    rename (or the manifest) — that is how matrices are imported.

    Parameters
    ----------
    path : path-like or URL
        Run directory; must not exist, be empty, or hold a store with the same fingerprint.
    task_ids, example_ids : sequence of str
        Unique ids of the rows and columns.
    metrics : sequence of str
        Names of the forgetting metrics; the first is primary.
    task_table, example_table : DataFrame or mapping of columns, optional
        Extra columns (e.g. ``group`` for tasks; ``source``, ``text`` for examples), in id order.
    config : mapping, optional
        The experiment config; part of the fingerprint, so resuming under another is refused.
    dtype : {"float32", "float64"}
    with_scores : bool
        Keep before/after scores beside the forgetting matrix (collected runs).
    kind : {"collected", "imported"}
    forgetting, summaries : optional
        Initial content of every row (see above).
    exist_ok : bool
        If False, an existing identical store is an error too.
    """
    location = store_location(path)
    shown = location.url
    tasks = layout.validate_ids(task_ids, "task")
    examples = layout.validate_ids(example_ids, "example")
    metric_names = layout.validate_ids(metrics, "metric")
    if dtype not in _FLOAT_DTYPES:
        raise StoreError(f"dtype must be one of {_FLOAT_DTYPES}, got {dtype!r}")
    task_frame = _table(task_table, "task", tasks)
    example_frame = _table(example_table, "example", examples)
    manifest: dict[str, Any] = {
        "format": layout.FORMAT_NAME,
        "version": layout.FORMAT_VERSION,
        "kind": kind,
        "created": _now(),
        "n_tasks": len(tasks),
        "n_examples": len(examples),
        "metrics": metric_names,
        "dtype": dtype,
        "has_scores": bool(with_scores),
        "config": None if config is None else json.loads(json.dumps(config)),
    }
    manifest["fingerprint"] = _fingerprint(tasks, examples, manifest)

    existing = _existing_store(location)
    if existing is not None:
        if existing.fingerprint != manifest["fingerprint"]:
            raise StoreConflictError(
                f"{shown!r} already holds a different store (other ids, metrics or config); "
                "choose another output directory or delete it to start anew"
            )
        if not exist_ok:
            raise StoreConflictError(f"{shown!r} already holds this store")
        return existing
    if isinstance(location, FsspecLocation):
        _create_in_place(location, manifest, task_frame, example_frame, forgetting, summaries)
        return open_store(location)

    path = location.local_path
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it 0700; the run dir is ordinary
        (staging / layout.ROWS_DIR).mkdir()
        staged = LocalLocation(staging)
        _write_files(staged, manifest, task_frame, example_frame)
        staged.write_bytes(layout.MANIFEST_FILE, json_bytes(manifest))
        store = ForgettingStore(staged, manifest)
        if forgetting is not None:
            _fill_rows(store, forgetting, summaries)
        _move_into_place(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return open_store(location)


# ---------------------------------------------------------------------- helpers
def _existing_store(location: StoreLocation) -> ForgettingStore | None:
    shown = location.url
    if not location.exists():
        return None
    if location.is_file():
        raise StoreConflictError(f"{shown!r} exists and is not a directory")
    if location.exists(layout.MANIFEST_FILE):
        return open_store(location)
    names = location.listdir()
    if isinstance(location, FsspecLocation) and set(names) <= _LAYOUT_NAMES:
        return None  # an interrupted creation (no manifest yet): created anew over it
    if names:
        raise StoreConflictError(
            f"{shown!r} is a non-empty directory without a forgetmap store; "
            "choose an empty or new output directory"
        )
    return None


def _write_files(
    location: StoreLocation,
    manifest: dict[str, Any],
    task_frame: pd.DataFrame,
    example_frame: pd.DataFrame,
) -> None:
    """Write the tables (recording their checksums in ``manifest``) and the arrays' metadata."""
    _write_table(location, layout.TASKS_FILE, task_frame)
    _write_table(location, layout.EXAMPLES_FILE, example_frame)
    manifest["checksums"] = {
        name: _hash(location, name) for name in (layout.TASKS_FILE, layout.EXAMPLES_FILE)
    }
    if isinstance(location, LocalLocation):
        _create_arrays(location.zarr_store(layout.MATRIX_DIR), manifest)
        return
    # Build the arrays' metadata in memory and upload only it: opening the remote group with
    # mode "w" would delete chunks that another writer of the same store may be writing.
    import zarr

    documents: dict[str, Any] = {}
    _create_arrays(zarr.storage.MemoryStore(documents), manifest)
    for key, buffer in sorted(documents.items()):
        location.write_bytes(f"{layout.MATRIX_DIR}/{key}", buffer.to_bytes())


def _create_in_place(
    location: FsspecLocation,
    manifest: dict[str, Any],
    task_frame: pd.DataFrame,
    example_frame: pd.DataFrame,
    forgetting: np.ndarray | Mapping[str, np.ndarray] | None,
    summaries: Sequence[Mapping[str, Any]] | None,
) -> None:
    """Create a store in an object store: every file in place, the manifest last.

    An interrupted creation's done-markers and artifacts are deleted first, so that nothing of
    it counts as finished; its chunks may stay, since only chunks of marked rows are read.
    """
    try:
        leftovers = location.listdir(layout.ROWS_DIR)
    except FileNotFoundError:
        leftovers = []
    for name in leftovers:
        if name.endswith(".json"):
            location.remove(f"{layout.ROWS_DIR}/{name}")
    location.remove(layout.BEFORE_MARKER)
    location.remove_tree(layout.ARTIFACTS_DIR)
    _write_files(location, manifest, task_frame, example_frame)
    if forgetting is not None:
        _fill_rows(ForgettingStore(location, manifest), forgetting, summaries)
    location.write_bytes(layout.MANIFEST_FILE, json_bytes(manifest))


def _move_into_place(staging: Path, path: Path) -> None:
    try:
        if path.exists():
            path.rmdir()  # empty, checked above (unless another writer got there first)
        os.rename(staging, path)
    except OSError:
        # Another process created the store first; accept it only if it is the same store.
        other = _existing_store(LocalLocation(path))
        if other is None or other.fingerprint != json.loads(
            (staging / layout.MANIFEST_FILE).read_text()
        ).get("fingerprint"):
            raise
        shutil.rmtree(staging, ignore_errors=True)


def _create_arrays(root_store: Any, manifest: Mapping[str, Any]) -> None:
    import zarr

    m, n = manifest["n_tasks"], manifest["n_examples"]
    root = zarr.open_group(root_store, mode="w", zarr_format=3)
    kinds = [layout.FORGETTING] + ([layout.AFTER, layout.BEFORE] if manifest["has_scores"] else [])
    for kind in kinds:
        group = root.require_group(kind)
        for metric in manifest["metrics"]:
            shape, chunks = ((n,), (n,)) if kind == layout.BEFORE else ((m, n), (1, n))
            # Uncompressed: forgetting values are noisy floats that barely compress, and
            # decompression was the slow part of reading large matrices (benchmarks/bench_store).
            group.create_array(
                metric,
                shape=shape,
                chunks=chunks,
                dtype=manifest["dtype"],
                fill_value=np.nan,
                compressors=None,
            )


def _fill_rows(
    store: ForgettingStore,
    forgetting: np.ndarray | Mapping[str, np.ndarray],
    summaries: Sequence[Mapping[str, Any]] | None,
) -> None:
    matrices = forgetting if isinstance(forgetting, Mapping) else {store.metrics[0]: forgetting}
    written_metrics = []
    for metric, matrix in matrices.items():
        metric = store._metric(metric)
        array = np.asarray(matrix, dtype=store.dtype)
        if array.shape != store.shape:
            raise StoreError(
                f"matrix of {metric!r} has shape {array.shape}, expected {store.shape}"
            )
        store._array(layout.FORGETTING, metric)[:] = array
        written_metrics.append(metric)
    written = _now()
    for index, task_id in enumerate(store.task_ids):
        summary = dict(summaries[index]) if summaries is not None else {}
        checksums = {
            f"{layout.FORGETTING}/{metric}": store._hash(
                store._chunk_key(layout.FORGETTING, metric, index)
            )
            for metric in written_metrics
        }
        store._write_json(
            store._row_marker(index),
            {
                "task": task_id,
                "index": index,
                "written_at": written,
                "summary": summary,
                "checksums": checksums,
            },
        )


def _table(
    table: pd.DataFrame | Mapping[str, Sequence[Any]] | None, key: str, ids: list[str]
) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(index=pd.Index(ids, name=key))
    if table is None:
        return frame
    extra = table.reset_index(drop=True) if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
    if key in extra.columns:
        extra = extra.drop(columns=[key])
    if len(extra) != len(ids):
        raise StoreError(f"{key} table has {len(extra)} rows for {len(ids)} {key}s")
    extra.index = frame.index
    return frame.join(extra)


def _write_table(location: StoreLocation, name: str, frame: pd.DataFrame) -> None:
    location.write_with(name, lambda temp: frame.reset_index().to_parquet(temp, index=False))


def _read_table(location: StoreLocation, name: str, key: str) -> pd.DataFrame:
    import pandas as pd

    if location.local_path is not None:
        frame = pd.read_parquet(location.path(name))
    else:
        frame = pd.read_parquet(io.BytesIO(location.read_bytes(name)))
    frame[key] = frame[key].astype(str)
    return frame.set_index(key)


def _hash(location: StoreLocation, rel: str) -> str | None:
    """Hex SHA-256 of the file ``rel``, or ``None`` when it does not exist (an unwritten chunk)."""
    if location.local_path is not None:
        return _sha256(location.path(rel))
    return location.sha256(rel)


def _sha256(path: Path) -> str | None:
    """Hex SHA-256 of a local file's bytes, or ``None`` when it does not exist."""
    return file_sha256(path)


def _save_npy(path: Path, data: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, data, allow_pickle=False)


def _fingerprint(tasks: list[str], examples: list[str], manifest: Mapping[str, Any]) -> str:
    identity = {
        "tasks": tasks,
        "examples": examples,
        "metrics": manifest["metrics"],
        "dtype": manifest["dtype"],
        "has_scores": manifest["has_scores"],
        "config": manifest["config"],
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _flatten(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = json.dumps(value)
        else:
            flat[name] = value
    return flat


def _artifact_name(name: str) -> str:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise StoreError(f"artifact name {name!r} must be a plain file name")
    return name


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
