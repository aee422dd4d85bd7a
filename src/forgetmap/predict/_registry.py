"""Names of the completion methods, as ``--methods`` spells them, and how to build each."""

from __future__ import annotations

from collections.abc import Callable

from forgetmap.errors import PredictionError
from forgetmap.predict._additive import Additive
from forgetmap.predict._base import CompletionEstimator
from forgetmap.predict._knn import KNN
from forgetmap.predict._logistic import LogisticAdditive, LogisticLowRank
from forgetmap.predict._lowrank import LowRank, Multiplicative
from forgetmap.predict._mean import ColumnMean

COMPLETION: dict[str, Callable[[int], CompletionEstimator]] = {
    "mean": lambda seed: ColumnMean(),
    "additive": lambda seed: Additive(),
    "multiplicative": lambda seed: Multiplicative(random_state=seed),
    "lowrank": lambda seed: LowRank(rank=5, random_state=seed),
    "knn": lambda seed: KNN(),
    "logistic_additive": lambda seed: LogisticAdditive(),
    "logistic_lowrank": lambda seed: LogisticLowRank(random_state=seed),
}
"""Matrix-completion methods: fitted on training tasks, folded in from k probes."""

BASELINES = ("similarity_embedding", "similarity_tfidf", "gradient", "representation")
"""Prior-work predictors (see :mod:`forgetmap.predict.baselines`); they use no probes."""

ALL_METHODS = (*COMPLETION, *BASELINES)

DEFAULT_CONTINUOUS = ("mean", "additive", "multiplicative", "lowrank", "knn", *BASELINES)
DEFAULT_BINARY = (
    "mean",
    "additive",
    "lowrank",
    "knn",
    "logistic_additive",
    "logistic_lowrank",
    *BASELINES,
)


def make_estimator(name: str, seed: int = 0) -> CompletionEstimator:
    """A fresh, unfitted completion estimator by method name."""
    try:
        return COMPLETION[name](seed)
    except KeyError:
        raise PredictionError(
            f"unknown method {name!r}; choose from {', '.join(ALL_METHODS)}"
        ) from None
