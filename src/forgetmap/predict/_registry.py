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
from forgetmap.predict._tuned import AUTO_CANDIDATES, Auto, Tuned, TunedLowRank

COMPLETION: dict[str, Callable[[int, int], CompletionEstimator]] = {
    "mean": lambda seed, k: ColumnMean(),
    "additive": lambda seed, k: Additive(),
    "multiplicative": lambda seed, k: Multiplicative(random_state=seed),
    "lowrank": lambda seed, k: LowRank(rank=5, random_state=seed),
    "lowrank_tuned": lambda seed, k: TunedLowRank(k=k, random_state=seed),
    "knn": lambda seed, k: KNN(),
    "knn_tuned": lambda seed, k: Tuned(_candidates_of("knn"), k=k, random_state=seed),
    "additive_tuned": lambda seed, k: Tuned(_candidates_of("additive"), k=k, random_state=seed),
    "auto": lambda seed, k: Auto(k=k, random_state=seed),
    "logistic_additive": lambda seed, k: LogisticAdditive(),
    "logistic_lowrank": lambda seed, k: LogisticLowRank(random_state=seed),
}
"""Matrix-completion methods: fitted on training tasks, folded in from k probes (``k`` is
what the ``*_tuned`` methods and ``auto`` validate their choice with)."""

BASELINES = ("similarity_embedding", "similarity_tfidf", "gradient", "representation")
"""Prior-work predictors (see :mod:`forgetmap.predict.baselines`); they use no probes."""

ALL_METHODS = (*COMPLETION, *BASELINES)

DEFAULT_CONTINUOUS = (
    "mean",
    "additive",
    "multiplicative",
    "lowrank",
    "lowrank_tuned",
    "knn",
    "auto",
    *BASELINES,
)
DEFAULT_BINARY = (
    "mean",
    "additive",
    "lowrank",
    "knn",
    "logistic_additive",
    "logistic_lowrank",
    *BASELINES,
)


def _candidates_of(method: str) -> tuple:
    return tuple(c for c in AUTO_CANDIDATES if c.method == method)


def make_estimator(name: str, seed: int = 0, k: int = 30) -> CompletionEstimator:
    """A fresh, unfitted completion estimator by method name; ``k`` is the number of probes it
    will fold in from."""
    try:
        return COMPLETION[name](seed, k)
    except KeyError:
        raise PredictionError(
            f"unknown method {name!r}; choose from {', '.join(ALL_METHODS)}"
        ) from None
