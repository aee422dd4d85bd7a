"""Turn results into strict, bounded JSON for the page: no NaN, no numpy types, no huge lists."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["clip_text", "json_safe"]

TEXT_LIMIT = 600
"""Characters of an example's text kept for the page (tooltips and tables); the rest is cut."""


def json_safe(value: Any, *, max_items: int | None = None) -> Any:
    """``value`` with NaN/±inf as ``None``, numpy scalars and arrays as Python, tuples as lists.

    With ``max_items``, every list is cut to that many items (the page shows counts beside).
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    if isinstance(value, Mapping):
        return {str(key): json_safe(item, max_items=max_items) for key, item in value.items()}
    if hasattr(value, "ndim") and hasattr(value, "tolist"):  # numpy scalar or array
        return json_safe(value.tolist(), max_items=max_items)
    if isinstance(value, (list, tuple)):
        items = value if max_items is None else value[:max_items]
        return [json_safe(item, max_items=max_items) for item in items]
    return str(value)


def clip_text(text: Any, limit: int = TEXT_LIMIT) -> str:
    """The text as a string of at most ``limit`` characters, marked with "…" when cut."""
    if text is None or (isinstance(text, float) and text != text):
        return ""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
