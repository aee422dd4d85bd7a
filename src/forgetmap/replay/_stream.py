"""Where replay examples go: the exact, deterministic interleaving of a task stream with replay.

The task's own training stream (``lm.task_batches``: ``steps`` batches of task examples) is kept
as it is — the same task examples, in the same order, in the same number of optimizer steps for
every sampler — and replay examples are *added* to its batches. Replay example number ``j``
(1-based) goes into the batch holding task example ``ceil(j / ratio)``: a Bresenham placement,
so every prefix of the stream holds ``floor(ratio * task examples so far)`` replay examples and
the whole stream holds exactly ``ratio * task examples`` of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import TypeVar

import numpy as np

from forgetmap.errors import ConfigError

T = TypeVar("T")

__all__ = [
    "as_fraction",
    "interleave",
    "replay_budget",
    "replay_count",
    "replay_slots",
    "split_pool",
]


def as_fraction(ratio: float | Fraction | str) -> Fraction:
    """The replay ratio (replay examples per task example) as an exact fraction in (0, 1).

    A float is read through its shortest decimal form, so ``0.1`` is exactly 1/10 and
    ``0.125`` is 1/8.
    """
    try:
        value = ratio if isinstance(ratio, Fraction) else Fraction(str(ratio))
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"replay ratio {ratio!r} is not a number") from None
    if not 0 < value < 1:
        raise ConfigError(
            f"replay ratio must be > 0 and < 1 (replay examples per task example), got {ratio!r}"
        )
    return value


def replay_budget(n_task_examples: int, ratio: float | Fraction | str) -> int:
    """Number of replay examples for a stream of ``n_task_examples`` task examples.

    Raises :class:`~forgetmap.errors.ConfigError` when ``ratio * n_task_examples`` is not a whole
    number: the realised ratio would not be exact.
    """
    fraction = as_fraction(ratio)
    budget = fraction * n_task_examples
    if budget.denominator != 1:
        raise ConfigError(
            f"replay ratio {ratio} × {n_task_examples} task examples (steps × batch size) = "
            f"{float(budget):g} is not a whole number of replay examples; choose a ratio or "
            f"step count that makes it one (e.g. ratio 1/8 with a multiple of 8 task examples)"
        )
    if budget == 0:
        raise ConfigError(
            f"replay ratio {ratio} gives no replay example in {n_task_examples} task examples"
        )
    return int(budget)


def replay_count(n_task_examples: int, ratio: float | Fraction | str) -> int:
    """``floor(ratio * n_task_examples)``: replay examples due after that many task examples.

    The placement rule of the stream, for a stream seen one batch at a time (a trainer's data
    loader): after each batch, the replay examples placed so far are brought up to this count.
    """
    return int(_placed(np.int64(n_task_examples), as_fraction(ratio)))


def replay_slots(batch_sizes: Sequence[int], ratio: float | Fraction | str) -> np.ndarray:
    """How many replay examples go into each batch.

    Parameters
    ----------
    batch_sizes : sequence of int, shape (n_steps,)
        Number of task examples in each batch of the task stream.
    ratio : float, Fraction or str
        Replay examples per task example, in (0, 1).

    Returns
    -------
    ndarray of int64, shape (n_steps,)
        ``slots[t] = floor(r * c_t) - floor(r * c_{t-1})`` with ``c_t`` the number of task
        examples in batches ``0..t``; its sum is :func:`replay_budget`.
    """
    fraction = as_fraction(ratio)
    sizes = np.asarray(batch_sizes, dtype=np.int64)
    if sizes.ndim != 1 or (sizes < 0).any():
        raise ConfigError("batch sizes must be a list of non-negative counts")
    replay_budget(int(sizes.sum()), fraction)
    cumulative = np.cumsum(sizes)
    return np.diff(_placed(cumulative, fraction), prepend=0)


def _placed(task_examples: np.ndarray, fraction: Fraction) -> np.ndarray:
    """``floor(r * c)`` in exact integer arithmetic, for counts ``c`` of task examples."""
    return (task_examples * fraction.numerator) // fraction.denominator


def interleave(
    task_batches: Sequence[Sequence[T]], replay: Sequence[T], slots: Sequence[int]
) -> list[list[T]]:
    """The training stream: each task batch followed by its share of the replay examples.

    Parameters
    ----------
    task_batches : sequence of sequences, shape (n_steps, batch_size)
        The task stream, unchanged.
    replay : sequence, shape (sum(slots),)
        Replay examples in the order they are to be seen.
    slots : sequence of int, shape (n_steps,)
        From :func:`replay_slots`.

    Returns
    -------
    list of lists
        New batch lists (the inputs are not modified); batch ``t`` holds its task examples,
        then ``slots[t]`` replay examples.
    """
    slots = [int(s) for s in slots]
    if len(slots) != len(task_batches):
        raise ValueError(f"{len(slots)} slot counts for {len(task_batches)} batches")
    if sum(slots) != len(replay):
        raise ValueError(f"{len(replay)} replay examples for {sum(slots)} slots")
    stream: list[list[T]] = []
    start = 0
    for batch, count in zip(task_batches, slots, strict=True):
        stream.append([*batch, *replay[start : start + count]])
        start += count
    return stream


def split_pool(
    example_ids: Sequence[str],
    *,
    heldout: int | None = None,
    heldout_ids: Sequence[str] | None = None,
    pool_ids: Sequence[str] | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Split the upstream examples into a replay pool and a held-out evaluation set.

    Either draw ``heldout`` examples at random (seeded) and put the rest in the pool, or name
    the held-out examples (``heldout_ids``) and optionally the pool (``pool_ids``; default: all
    the others). Held-out examples are never replayed, so their forgetting measures how far a
    sampler's benefit carries beyond what it replayed.

    Returns
    -------
    pool, heldout : ndarray of int64
        Sorted column indices into ``example_ids``; disjoint and both non-empty.
    """
    ids = [str(i) for i in example_ids]
    index = {example_id: i for i, example_id in enumerate(ids)}
    n = len(ids)
    if heldout_ids is not None:
        held = _indices(heldout_ids, index, "held-out")
        if pool_ids is not None:
            pool = _indices(pool_ids, index, "pool")
        else:
            pool = np.setdiff1d(np.arange(n), held)
    else:
        if pool_ids is not None:
            raise ConfigError("pool_ids needs heldout_ids too (or give a held-out count)")
        if heldout is None or heldout < 1:
            raise ConfigError(f"the held-out set is empty (heldout = {heldout}); give at least 1")
        if heldout >= n:
            raise ConfigError(
                f"heldout = {heldout} leaves no upstream example for the replay pool "
                f"(there are {n}); choose fewer"
            )
        rng = np.random.default_rng(seed)
        held = np.sort(rng.choice(n, size=heldout, replace=False)).astype(np.int64)
        pool = np.setdiff1d(np.arange(n), held)
    if held.size == 0:
        raise ConfigError("the held-out set is empty; name at least one held-out example")
    if pool.size == 0:
        raise ConfigError("the replay pool is empty; leave at least one example out of heldout")
    overlap = np.intersect1d(pool, held)
    if overlap.size:
        shown = ", ".join(repr(ids[i]) for i in overlap[:3])
        raise ConfigError(
            f"the held-out set overlaps the replay pool in {overlap.size} example(s) ({shown}); "
            "held-out examples must never be replayed"
        )
    return pool.astype(np.int64), held.astype(np.int64)


def _indices(names: Sequence[str], index: dict[str, int], what: str) -> np.ndarray:
    result = []
    for name in names:
        try:
            result.append(index[str(name)])
        except KeyError:
            raise ConfigError(f"{what} example id {name!r} is not an upstream example") from None
    if len(set(result)) != len(result):
        raise ConfigError(f"the {what} example ids repeat an example")
    return np.sort(np.asarray(result, dtype=np.int64))
