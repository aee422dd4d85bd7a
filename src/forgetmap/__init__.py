"""forgetmap: which upstream examples does fine-tuning make a language model forget?

The package is organised in stages (measure, analyse, predict, mitigate) around one store; see the
README. Heavy dependencies are imported lazily so that ``import forgetmap`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["ForgettingStore", "__version__", "create_store", "open_store"]

if TYPE_CHECKING:
    from forgetmap.store import ForgettingStore, create_store, open_store


def __getattr__(name: str) -> Any:
    if name in {"ForgettingStore", "create_store", "open_store"}:
        from forgetmap import store

        return getattr(store, name)
    raise AttributeError(f"module 'forgetmap' has no attribute {name!r}")
