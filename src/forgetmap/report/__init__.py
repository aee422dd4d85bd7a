"""The forgetting report: one self-contained, offline HTML page of a store and its results.

It draws the numbers of the other stages (``analyze``, ``evaluate``, ``replay``) and the matrix
itself, downsampled deterministically when large (see :func:`select_cells`).
"""

from forgetmap.report._downsample import DEFAULT_MAX_CELLS, Selection, select_cells
from forgetmap.report._page import embed_json, render_page
from forgetmap.report._prepare import prepare_report
from forgetmap.report._report import build_report, write_report

__all__ = [
    "DEFAULT_MAX_CELLS",
    "Selection",
    "build_report",
    "embed_json",
    "prepare_report",
    "render_page",
    "select_cells",
    "write_report",
]
