"""Timing and peak-memory helpers shared by the benchmarks."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from typing import Any


def timed(function: Callable[[], Any], repeats: int = 1) -> tuple[float, Any]:
    """Best wall-clock seconds of ``repeats`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, in GB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
