"""The forgetting store: a run directory holding the M×N forgetting matrix and its tables.

A run directory is a local folder or a URL of an object store (``s3://bucket/run``, any fsspec
URL; see :func:`store_location`). Also the atomic writes it is built on (write aside, then
rename), for every other file a stage writes.
"""

from forgetmap.store._atomic import atomic_write, atomic_write_bytes, atomic_write_json
from forgetmap.store._location import StoreLocation, StorePath, is_url, store_location
from forgetmap.store._store import ForgettingStore, create_store, open_store

__all__ = [
    "ForgettingStore",
    "StoreLocation",
    "StorePath",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_json",
    "create_store",
    "is_url",
    "open_store",
    "store_location",
]
