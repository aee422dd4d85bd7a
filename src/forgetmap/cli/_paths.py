"""Output paths of the commands: checked before any work, and write errors as one line.

Every command that writes a file or a directory calls :func:`check_output_file` or
:func:`check_output_dir` (from :mod:`forgetmap._outputs`, shared with the library) on it, with
the option that named it, before it starts (so a bad path fails fast and changes nothing),
then writes inside :func:`writing`, which turns an ``OSError`` (disk full, permission denied,
...) into an :class:`~forgetmap.errors.OutputPathError`: one line and exit code 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from forgetmap._outputs import check_output_dir, check_output_file
from forgetmap.errors import ForgetmapError, OutputPathError

__all__ = ["check_output_dir", "check_output_file", "write_json", "writing"]


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
    from forgetmap.store import atomic_write_json

    path = Path(path)
    with writing(path, option):
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, document)
    return path
