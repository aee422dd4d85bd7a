"""What to replay: samplers that pick a fixed budget of examples from the replay pool.

Every sampler but ``none`` picks exactly ``budget`` examples, so the samplers differ only in
*which* examples they replay, never in how many:

- ``none``: no replay (budget 0), the plain fine-tuning run;
- ``random``: uniform, without replacement;
- ``predicted``: without replacement with weights ``softmax(predicted forgetting / T)``;
- ``predicted_topk``: the ``budget`` examples with the highest predicted forgetting;
- ``ground_truth``: like ``predicted`` but with the forgetting measured in a plain run of the
  task — what a perfect predictor would give, an upper bound;
- ``predicted_directions`` (forgetmap's own): covers the *directions* of predicted forgetting
  rather than only its magnitude. Each pool example has a direction, its loadings on the store's
  low-rank factors (examples with close directions are forgotten by the same tasks). The sampler
  greedily picks the examples that best cover the at-risk pool — maximising
  ``sum_j w_j max_{s in S} cos+(j, s)`` with ``w = softmax(predicted forgetting / T)`` (a
  facility-location objective; greedy is within 1 - 1/e of the best) — so that replay also
  protects the at-risk examples it never replays, through the ones like them that it does.

Weighted draws without replacement are successive sampling (each next example drawn with
probability proportional to its weight among those not drawn yet), done in one step by the
Gumbel-top-k trick. When the budget exceeds the pool, the pool is drawn whole in rounds.
"""

from __future__ import annotations

import numpy as np

from forgetmap.errors import ConfigError

__all__ = [
    "PREDICTED_SAMPLERS",
    "SAMPLERS",
    "WEIGHTED_SAMPLERS",
    "cover_directions",
    "draw_replay",
    "softmax_weights",
]

SAMPLERS = (
    "none",
    "random",
    "predicted",
    "predicted_topk",
    "ground_truth",
    "predicted_directions",
)
"""The sampler names, in the order they are run and reported (a run's seed uses the position)."""

WEIGHTED_SAMPLERS = ("predicted", "predicted_topk", "ground_truth", "predicted_directions")
"""Samplers that need a forgetting score per pool example."""

PREDICTED_SAMPLERS = ("predicted", "predicted_topk", "predicted_directions")
"""Samplers that replay by the predictions of k probes (offline or online)."""


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
    directions: np.ndarray | None = None,
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
    directions : ndarray of shape (n_pool, r), optional
        Each pool example's loadings on the low-rank factors; needed by
        ``predicted_directions``.
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
        if sampler == "predicted_directions":
            if directions is None or np.shape(directions)[0] != pool_size:
                raise ConfigError(
                    "sampler 'predicted_directions' needs a direction per pool example"
                )
            weights = softmax_weights(scores, temperature)
            chosen = _rounds(lambda k: cover_directions(directions, weights, k), pool_size, budget)
            return rng.permutation(chosen)
        _check_temperature(temperature)
        logits = scores / temperature
    chosen = _rounds(lambda k: _gumbel_top(logits, k, rng), pool_size, budget)
    # The stream order is a fresh permutation: no sampler front-loads its favourite examples.
    return rng.permutation(chosen)


def cover_directions(directions: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """The k pool positions that greedily best cover the weighted pool by direction.

    Maximises ``F(S) = sum_j weights[j] * max_{s in S} max(cos(directions[j], directions[s]), 0)``
    one pick at a time (the pick with the largest gain; ties to the lower position). ``F`` is
    monotone submodular, so greedy is within ``1 - 1/e`` of the best set of size k. An example
    without a direction (all-zero loadings) covers only itself.

    Parameters
    ----------
    directions : ndarray of shape (n_pool, r)
    weights : ndarray of shape (n_pool,)
        How much covering each example is worth (e.g. softmax of predicted forgetting / T).
    k : int
        How many to pick, at most n_pool.

    Returns
    -------
    ndarray of int64, shape (k,), in the order picked.
    """
    loadings = np.asarray(directions, dtype=np.float64)
    norms = np.linalg.norm(loadings, axis=1, keepdims=True)
    unit = np.divide(loadings, norms, out=np.zeros_like(loadings), where=norms > 0)
    similarity = np.clip(unit @ unit.T, 0.0, 1.0)  # (n_pool, n_pool)
    np.fill_diagonal(similarity, 1.0)
    w = np.asarray(weights, dtype=np.float64)
    covered = np.zeros(len(w))  # how well each example is covered so far
    chosen: list[int] = []
    available = np.ones(len(w), dtype=bool)
    for _ in range(k):
        gains = (w[:, None] * np.maximum(similarity - covered[:, None], 0.0)).sum(axis=0)
        gains[~available] = -np.inf
        pick = int(np.argmax(gains))
        chosen.append(pick)
        available[pick] = False
        covered = np.maximum(covered, similarity[:, pick])
    return np.array(chosen, dtype=np.int64)


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
