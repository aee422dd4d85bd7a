"""The forgetting store: a run directory holding the M×N forgetting matrix and its tables."""

from forgetmap.store._store import ForgettingStore, create_store, open_store

__all__ = ["ForgettingStore", "create_store", "open_store"]
