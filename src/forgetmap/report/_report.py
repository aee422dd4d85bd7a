"""Write the report: prepare the data, render the page, write it atomically."""

from __future__ import annotations

import os
from pathlib import Path

from forgetmap.errors import OutputPathError, ReportError
from forgetmap.report._downsample import DEFAULT_MAX_CELLS
from forgetmap.report._page import render_page
from forgetmap.report._prepare import prepare_report
from forgetmap.store import ForgettingStore, atomic_write_bytes, open_store

__all__ = ["build_report", "write_report"]


def build_report(
    store: ForgettingStore | str | os.PathLike[str],
    *,
    rank: int | None = None,
    metric: str | None = None,
    replay: str | os.PathLike[str] | None = None,
    max_cells: int = DEFAULT_MAX_CELLS,
    seed: int = 0,
) -> str:
    """The report page of ``store`` as one self-contained HTML document.

    See :func:`~forgetmap.report.prepare_report` for the parameters. The page loads nothing:
    every script, style and number is inline, and its Content-Security-Policy forbids requests.
    """
    if not isinstance(store, ForgettingStore):
        store = open_store(store)
    return render_page(
        prepare_report(
            store, rank=rank, metric=metric, replay=replay, max_cells=max_cells, seed=seed
        )
    )


def write_report(
    store: ForgettingStore | str | os.PathLike[str],
    out: str | os.PathLike[str],
    **options: object,
) -> Path:
    """Build the report of ``store`` (options as :func:`build_report`) and write it to ``out``.

    The file is written atomically: ``out`` holds the old file or the whole new one.
    """
    out = Path(out)
    if out.is_dir():
        raise ReportError(f"{str(out)!r} is a directory; give a file name such as report.html")
    page = build_report(store, **options)  # type: ignore[arg-type]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out, page.encode("utf-8"))
        out.chmod(0o644)  # a page to share; the atomic write's temporary file was private
    except OSError as error:
        raise OutputPathError(
            f"cannot write the report to {str(out)!r}: {error.strerror or error}"
        ) from None
    return out
