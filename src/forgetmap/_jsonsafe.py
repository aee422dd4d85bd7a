"""Strict JSON values from results: no NaN, no numpy types, optionally no huge lists.

A base layer (like ``errors``): the store's JSON writes, the analysis document, the replay
results and the report page all pass their documents through :func:`json_safe`, so every
reader — a browser's ``JSON.parse`` included — can load what forgetmap writes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["json_safe"]


def json_safe(value: Any, *, max_items: int | None = None) -> Any:
    """``value`` with NaN/±inf as ``None``, numpy scalars and arrays as Python, tuples as lists.

    Mapping keys become strings; any other object becomes its ``str``. With ``max_items``,
    every list is cut to that many items (the report shows counts beside).
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Mapping):
        return {str(key): json_safe(item, max_items=max_items) for key, item in value.items()}
    if hasattr(value, "ndim") and hasattr(value, "tolist"):  # numpy scalar or array
        return json_safe(value.tolist(), max_items=max_items)
    if isinstance(value, (list, tuple)):
        items = value if max_items is None else value[:max_items]
        return [json_safe(item, max_items=max_items) for item in items]
    return str(value)
