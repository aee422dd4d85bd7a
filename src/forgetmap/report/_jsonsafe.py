"""Strict, bounded JSON for the page (:func:`forgetmap._jsonsafe.json_safe`) and clipped texts."""

from __future__ import annotations

from typing import Any

from forgetmap._jsonsafe import json_safe

__all__ = ["clip_text", "json_safe"]

TEXT_LIMIT = 600
"""Characters of an example's text kept for the page (tooltips and tables); the rest is cut."""


def clip_text(text: Any, limit: int = TEXT_LIMIT) -> str:
    """The text as a string of at most ``limit`` characters, marked with "…" when cut."""
    if text is None or (isinstance(text, float) and text != text):
        return ""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
