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

from forgetmap._jsonsafe import json_safe

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
    atomic_write_bytes(path, json_bytes(document))


def json_bytes(document: Any) -> bytes:
    """``document`` as the indented, strict JSON (NaN as null) that the store writes."""
    text = json.dumps(json_safe(document), indent=2, sort_keys=False, allow_nan=False)
    return (text + "\n").encode()
