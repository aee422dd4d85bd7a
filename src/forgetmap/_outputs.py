"""Checks of a path a job will write, made before the job starts.

A base layer (like ``errors``): the CLI checks the paths a user gives (naming the option, e.g.
``--out``) and the library checks the paths its own jobs write (``collect``'s run directory),
with the same rules, so a bad path fails fast and nothing is half-written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from forgetmap.errors import OutputPathError

__all__ = ["check_output_dir", "check_output_file"]


def check_output_file(path: Path, label: str = "", companions: Iterable[Path] = ()) -> Path:
    """Refuse ``path`` (and files written beside it) when it cannot be written as a file.

    A file may exist (it is replaced whole); a directory may not. The nearest existing folder
    above it must be a writable directory (missing folders are created when writing).
    ``label`` names where the path came from in messages (``"--out"``), or nothing.
    """
    path = Path(path)
    named = _named(label, path)
    if path.is_dir():
        raise OutputPathError(f"{named} is a directory; give a file name")
    for companion in companions:
        if Path(companion).is_dir():
            raise OutputPathError(
                f"{named}: {str(companion)!r}, written beside it, is a directory; move it away "
                "or give another file name"
            )
    _writable(_nearest_folder(path.absolute().parent, named), named)
    return path


def check_output_dir(path: Path, label: str = "", noun: str = "directory") -> Path:
    """Refuse ``path`` when it cannot be a directory to write into: it is a file, a file stands
    where one of its folders would be, or the folder to write in is not writable.

    ``noun`` says what the directory is for in messages (``"run directory"``).
    """
    path = Path(path)
    named = _named(label, path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{named} is a file, not a {noun}; give a new or empty {noun}")
    _writable(_nearest_folder(path.absolute(), named), named)
    return path


def _named(label: str, path: Path) -> str:
    return f"{label} {str(path)!r}" if label else repr(str(path))


def _nearest_folder(path: Path, named: str) -> Path:
    """``path`` or its nearest existing ancestor, which must be a folder."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(
            f"{named} cannot be created: {str(existing)!r} is a file, not a folder; "
            "give another path"
        )
    return existing


def _writable(folder: Path, named: str) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(
            f"{named}: folder {str(folder)!r} is not writable; give a path in a writable folder"
        )
