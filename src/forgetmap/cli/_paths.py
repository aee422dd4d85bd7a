"""Output paths of the commands: checked before any work, and write errors as one line.

Every command that writes a file or a directory calls :func:`check_output_file` or
:func:`check_output_dir` on it before it starts (so a bad path fails fast and changes nothing),
then writes inside :func:`writing`, which turns an ``OSError`` (disk full, permission denied,
...) into an :class:`~forgetmap.errors.OutputPathError`: one line and exit code 2.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from forgetmap.errors import ForgetmapError, OutputPathError

__all__ = ["check_output_dir", "check_output_file", "write_json", "writing"]


def check_output_file(path: Path, option: str = "--out", companions: Iterable[Path] = ()) -> Path:
    """Refuse ``path`` (and files written beside it) when it cannot be written as a file.

    A file may exist (it is replaced whole); a directory may not. The nearest existing folder
    above it must be a writable directory (missing folders are created when writing).
    """
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{option} {str(path)!r} is a directory; give a file name")
    for companion in companions:
        if Path(companion).is_dir():
            raise OutputPathError(
                f"{option} {str(path)!r}: {str(companion)!r}, written beside it, is a "
                "directory; move it away or give another file name"
            )
    _check_parent(path, option)
    return path


def check_output_dir(path: Path, option: str = "--out") -> Path:
    """Refuse ``path`` when it cannot become a directory: it is a file, or its folder is locked."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(
            f"{option} {str(path)!r} is a file, not a directory; give a new or empty directory"
        )
    _check_parent(path, option)
    return path


def _check_parent(path: Path, option: str) -> None:
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputPathError(
            f"{option} {str(path)!r}: {str(parent)!r} is not a directory; give another path"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(
            f"{option} {str(path)!r}: folder {str(parent)!r} is not writable; "
            "give a path in a writable folder"
        )


@contextmanager
def writing(path: Path, option: str = "--out") -> Iterator[None]:
    """Turn an ``OSError`` raised while writing ``path`` into a one-line ``OutputPathError``.

    ``option`` names where the path came from (``--out``); empty for a path the user did not
    give, such as a store's artifact.
    """
    label = f"{option} " if option else ""
    try:
        yield
    except ForgetmapError:
        raise
    except OSError as error:
        reason = error.strerror or str(error)
        raise OutputPathError(f"cannot write {label}{str(path)!r}: {reason}") from None


def write_json(path: Path, document: Any, option: str = "--json") -> Path:
    """Write ``document`` to ``path`` atomically (missing folders created), errors as one line."""
    from forgetmap.store._atomic import atomic_write_json

    path = Path(path)
    with writing(path, option):
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, document)
    return path
