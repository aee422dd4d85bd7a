"""Which k examples to evaluate on a new task: at random, or actively from the training tasks.

Active probing picks the examples that pin down a new task's low-rank scores best: greedy
D-optimal design on the leading right singular vectors of the (column-centred) training rows,
i.e. each next probe is the candidate with the largest predictive variance given those chosen.
"""

from __future__ import annotations

import numpy as np

from forgetmap.errors import PredictionError

__all__ = ["active_probes", "random_probes"]


def random_probes(candidates: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct columns drawn uniformly without replacement from ``candidates``."""
    candidates = np.asarray(candidates)
    if not 1 <= k < len(candidates) + 1:
        raise PredictionError(f"cannot draw k={k} probes from {len(candidates)} measured entries")
    return np.sort(rng.choice(candidates, size=k, replace=False))


def active_probes(
    components: np.ndarray,
    k: int,
    candidates: np.ndarray | None = None,
    *,
    ridge: float = 1e-6,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Greedy D-optimal choice of ``k`` probe columns.

    Parameters
    ----------
    components : ndarray of shape (r, n_examples)
        Leading right singular vectors of the training rows (e.g. ``LowRank.components_``).
    k : int
        Number of probes.
    candidates : ndarray of int, optional
        Columns that may be chosen (a new task's measured examples); default all.
    ridge : float
        Regularisation of the information matrix (relative to the mean leverage).
    rng : Generator, optional
        Breaks exact ties at random; without it the lowest index wins.

    Returns
    -------
    ndarray of int, shape (k,)
        Chosen columns, sorted. Each step adds the candidate with the largest
        ``v_j^T (A^T A + ridge I)^{-1} v_j``; after r probes this is the classical sequential
        D-optimal design; beyond r it keeps spreading probes where the scores are least certain.
    """
    V = np.asarray(components, dtype=np.float64).T  # (N, r)
    n = V.shape[0]
    pool = np.arange(n) if candidates is None else np.asarray(candidates, dtype=np.intp)
    if not 1 <= k <= len(pool):
        raise PredictionError(f"cannot choose k={k} probes from {len(pool)} measured entries")
    Vp = V[pool]  # (P, r)
    r = V.shape[1]
    scale = max(float((Vp**2).sum() / max(len(pool), 1)), 1e-300)
    information_inv = np.eye(r) / (ridge * scale)
    leverage = np.einsum("pr,rs,ps->p", Vp, information_inv, Vp)
    taken = np.zeros(len(pool), dtype=bool)
    jitter = rng.random(len(pool)) * 1e-12 if rng is not None else np.zeros(len(pool))
    chosen = []
    for _ in range(k):
        score = np.where(taken, -np.inf, leverage * (1 + jitter))
        best = int(np.argmax(score))
        chosen.append(best)
        taken[best] = True
        v = information_inv @ Vp[best]  # Sherman-Morrison update of (A^T A + λI)^{-1}
        denominator = 1.0 + Vp[best] @ v
        information_inv -= np.outer(v, v) / denominator
        leverage -= (Vp @ v) ** 2 / denominator
    return np.sort(pool[chosen])
