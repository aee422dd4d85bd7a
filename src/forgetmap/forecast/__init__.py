"""Forecast a fine-tuned checkpoint's forgetting of all upstream examples from k scored ones."""

from forgetmap.forecast._checkpoint import check_checkpoint, resolve_checkpoint
from forgetmap.forecast._forecast import (
    COLUMNS,
    PROBES,
    Forecast,
    choose_probes,
    forecast,
    write_ranking,
)

__all__ = [
    "COLUMNS",
    "PROBES",
    "Forecast",
    "check_checkpoint",
    "choose_probes",
    "forecast",
    "resolve_checkpoint",
    "write_ranking",
]
