"""What a reader needs to reproduce a run: the store's config, model, seed and package versions."""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Any

from forgetmap.store import ForgettingStore

__all__ = ["environment", "run_config"]

PACKAGES = (
    "forgetmap",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "zarr",
    "scikit-learn",
    "torch",
    "transformers",
    "peft",
)
"""Packages whose versions the page lists (read from metadata: nothing heavy is imported)."""


def environment() -> dict[str, Any]:
    """Python, platform and the installed versions of :data:`PACKAGES` (``None`` if absent)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
    }


def run_config(store: ForgettingStore) -> dict[str, Any]:
    """The store's identity and config, with the model and seed pulled out when present."""
    config = store.config
    manifest = store.manifest
    return {
        "kind": store.kind,
        "created": manifest.get("created"),
        "metrics": list(store.metrics),
        "dtype": str(store.dtype),
        "fingerprint": store.fingerprint,
        "model": _find(config, "model"),
        "seed": _find(config, "seed"),
        "config": config,
    }


def _find(config: dict[str, Any] | None, key: str) -> Any:
    """``config[key]``, or the first ``key`` one level down (e.g. ``{"model": {"name": ...}}``)."""
    if not config:
        return None
    if key in config:
        return config[key]
    for value in config.values():
        if isinstance(value, dict) and key in value:
            return value[key]
    return None
