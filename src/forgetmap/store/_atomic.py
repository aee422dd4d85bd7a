"""Atomic file writes: a reader sees the old file or the new one, never a torn one.

The store relies on this for its done-markers and tables: a process killed with SIGKILL halfway
through a write leaves at most a stray temporary file, which readers ignore.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

TEMP_SUFFIX = ".tmp"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temp_path)``, flush it to disk, then rename it over ``path``."""
    path = Path(path)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    temp = Path(temp_name)
    # mkstemp creates the file 0600; give it the permissions a plain open() would have.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)
    try:
        write(temp)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda temp: temp.write_bytes(data))


def atomic_write_json(path: Path, document: Any) -> None:
    """Write ``document`` as indented JSON to ``path`` atomically (NaN is written as null)."""
    text = json.dumps(_nan_to_none(document), indent=2, sort_keys=False, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())


def _nan_to_none(value: Any) -> Any:
    """Strict JSON has no NaN: turn float NaN/inf into null so any JSON reader can load the file."""
    if isinstance(value, float):
        return None if value != value or value in (float("inf"), float("-inf")) else value
    if isinstance(value, dict):
        return {str(key): _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(item) for item in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return _nan_to_none(value.item())
    if hasattr(value, "tolist"):
        return _nan_to_none(value.tolist())
    return value
