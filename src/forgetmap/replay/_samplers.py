"""What to replay: samplers that pick a fixed budget of examples from the replay pool.

Every sampler but ``none`` picks exactly ``budget`` examples, so the samplers differ only in
*which* examples they replay, never in how many:

- ``none``: no replay (budget 0), the plain fine-tuning run;
- ``random``: uniform, without replacement;
- ``predicted``: without replacement with weights ``softmax(predicted forgetting / T)``;
- ``predicted_topk``: the ``budget`` examples with the highest predicted forgetting;
- ``ground_truth``: like ``predicted`` but with the forgetting measured in a plain run of the
  task — what a perfect predictor would give, an upper bound.

Weighted draws without replacement are successive sampling (each next example drawn with
probability proportional to its weight among those not drawn yet), done in one step by the
Gumbel-top-k trick. When the budget exceeds the pool, the pool is drawn whole in rounds.
"""

from __future__ import annotations

import numpy as np

from forgetmap.errors import ConfigError

__all__ = [
    "SAMPLERS",
    "WEIGHTED_SAMPLERS",
    "draw_replay",
    "softmax_weights",
]

SAMPLERS = ("none", "random", "predicted", "predicted_topk", "ground_truth")
"""The sampler names, in the order they are run and reported."""

WEIGHTED_SAMPLERS = ("predicted", "predicted_topk", "ground_truth")
"""Samplers that need a forgetting score per pool example."""


def softmax_weights(scores: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(scores / temperature)``: selection weights, ndarray of shape (n_pool,)."""
    _check_temperature(temperature)
    logits = np.asarray(scores, dtype=np.float64) / temperature
    logits -= logits.max()
    weights = np.exp(logits)
    return weights / weights.sum()


def draw_replay(
    sampler: str,
    pool_size: int,
    budget: int,
    *,
    scores: np.ndarray | None = None,
    temperature: float = 1.0,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Positions in the pool of the examples to replay, in the order they are to be seen.

    Parameters
    ----------
    sampler : str
        One of :data:`SAMPLERS`.
    pool_size : int
        Number of examples in the replay pool.
    budget : int
        Number of replay examples (ignored by ``none``, which replays nothing).
    scores : ndarray of shape (n_pool,), optional
        Predicted (or, for ``ground_truth``, measured) forgetting of each pool example; needed
        by the weighted samplers.
    temperature : float
        ``T > 0`` of the softmax; small T concentrates the draws on the highest scores.
    seed : int or Generator
        Seeds the draw and the order of the drawn examples in the stream.

    Returns
    -------
    ndarray of int64, shape (budget,) — shape (0,) for ``none``
    """
    if sampler not in SAMPLERS:
        raise ConfigError(f"unknown sampler {sampler!r}; choose from {', '.join(SAMPLERS)}")
    if sampler == "none":
        return np.zeros(0, dtype=np.int64)
    if pool_size < 1:
        raise ConfigError("the replay pool is empty")
    if budget < 0:
        raise ConfigError(f"replay budget must be >= 0, got {budget}")
    rng = np.random.default_rng(seed)
    logits = np.zeros(pool_size)
    if sampler in WEIGHTED_SAMPLERS:
        if scores is None:
            raise ConfigError(f"sampler {sampler!r} needs a forgetting score per pool example")
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (pool_size,):
            raise ConfigError(f"{scores.shape} scores for a pool of {pool_size} examples")
        if not np.isfinite(scores).all():
            raise ConfigError(f"sampler {sampler!r} got non-finite forgetting scores")
        if sampler == "predicted_topk":
            chosen = _rounds(lambda k: _top(scores, k), pool_size, budget)
            return rng.permutation(chosen)
        _check_temperature(temperature)
        logits = scores / temperature
    chosen = _rounds(lambda k: _gumbel_top(logits, k, rng), pool_size, budget)
    # The stream order is a fresh permutation: no sampler front-loads its favourite examples.
    return rng.permutation(chosen)


def _gumbel_top(logits: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k positions drawn by successive sampling with probabilities ∝ exp(logits)."""
    keys = logits + rng.gumbel(size=logits.shape)
    return np.argsort(-keys, kind="stable")[:k]


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """The k highest scores (ties to the lower position)."""
    return np.argsort(-scores, kind="stable")[:k]


def _rounds(draw, pool_size: int, budget: int) -> np.ndarray:
    """Call ``draw(k)`` for rounds of at most ``pool_size`` until ``budget`` are drawn."""
    parts = []
    remaining = budget
    while remaining > 0:
        k = min(pool_size, remaining)
        parts.append(np.asarray(draw(k), dtype=np.int64))
        remaining -= k
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _check_temperature(temperature: float) -> None:
    if not (temperature > 0 and np.isfinite(temperature)):
        raise ConfigError(f"the sampling temperature T must be > 0, got {temperature!r}")
