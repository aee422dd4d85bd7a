"""Small linear algebra runs on one BLAS thread."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def one_blas_thread(function: F) -> F:
    """Run ``function`` with a single-threaded BLAS.

    Evaluation and inner validation are many small calls (fold-ins, (M-1) × (M-1)
    eigendecompositions, per-row dot products); a multi-threaded BLAS on a busy machine makes each
    of them up to ~100× slower (measured on 2 shared cores: an inner validation of ``auto`` took
    16 s instead of 2 s), and the large products lose little.
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
