"""The interleaved training stream and the pool / held-out split."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from forgetmap.errors import ConfigError
from forgetmap.replay import as_fraction, interleave, replay_budget, replay_slots, split_pool


def test_float_ratios_are_read_exactly():
    assert as_fraction(0.125) == Fraction(1, 8)
    assert as_fraction(0.1) == Fraction(1, 10)
    assert as_fraction("1/3") == Fraction(1, 3)


@pytest.mark.parametrize("ratio", [0, -0.5, 1, 1.5, "abc"])
def test_ratio_outside_zero_one_is_refused(ratio):
    with pytest.raises(ConfigError, match="ratio"):
        as_fraction(ratio)


@pytest.mark.parametrize(
    ("sizes", "ratio"),
    [([4] * 20, 0.125), ([4] * 20, 0.1), ([8] * 7, 0.5), ([3, 5, 4, 4, 8], 0.25), ([2] * 9, "1/3")],
)
def test_realised_ratio_is_exact_in_every_prefix(sizes, ratio):
    slots = replay_slots(sizes, ratio)
    fraction = as_fraction(ratio)
    task_seen = np.cumsum(sizes)
    replay_seen = np.cumsum(slots)
    # Every prefix holds floor(r · task examples so far) replay examples; the whole stream r · n.
    assert list(replay_seen) == [int(fraction * int(c)) for c in task_seen]
    assert Fraction(int(replay_seen[-1]), int(task_seen[-1])) == fraction
    assert slots.sum() == replay_budget(sum(sizes), ratio)


def test_default_ratio_places_one_replay_example_every_eight_task_examples():
    assert list(replay_slots([4] * 8, 0.125)) == [0, 1, 0, 1, 0, 1, 0, 1]


def test_a_ratio_that_gives_a_fractional_budget_is_refused():
    with pytest.raises(ConfigError, match="whole number"):
        replay_budget(20, 0.125)


def test_interleave_keeps_the_task_stream_and_adds_replay():
    batches = [["t0", "t1"], ["t2", "t3"], ["t4", "t5"], ["t6", "t7"]]
    slots = replay_slots([2, 2, 2, 2], 0.25)
    stream = interleave(batches, ["r0", "r1"], slots)
    assert stream == [["t0", "t1"], ["t2", "t3", "r0"], ["t4", "t5"], ["t6", "t7", "r1"]]
    assert batches[1] == ["t2", "t3"]
    with pytest.raises(ValueError):
        interleave(batches, ["r0"], slots)


def test_pool_and_heldout_are_disjoint_seeded_and_cover_everything():
    ids = [f"e{i}" for i in range(50)]
    pool, held = split_pool(ids, heldout=12, seed=3)
    assert held.size == 12 and pool.size == 38
    assert np.intersect1d(pool, held).size == 0
    assert sorted(np.concatenate([pool, held])) == list(range(50))
    again = split_pool(ids, heldout=12, seed=3)
    assert np.array_equal(again[0], pool) and np.array_equal(again[1], held)
    other = split_pool(ids, heldout=12, seed=4)
    assert not np.array_equal(other[1], held)


def test_named_heldout_and_pool():
    ids = ["a", "b", "c", "d"]
    pool, held = split_pool(ids, heldout_ids=["d", "b"])
    assert list(held) == [1, 3] and list(pool) == [0, 2]
    pool, held = split_pool(ids, heldout_ids=["a"], pool_ids=["c"])
    assert list(pool) == [2]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"heldout": 0}, "held-out set is empty"),
        ({"heldout": 4}, "no upstream example"),
        ({"heldout_ids": []}, "held-out set is empty"),
        ({"heldout_ids": ["a", "b"], "pool_ids": ["b", "c"]}, "overlaps the replay pool"),
        ({"heldout_ids": ["zz"]}, "not an upstream example"),
        ({"heldout_ids": ["a", "b", "c", "d"]}, "pool is empty"),
    ],
)
def test_bad_splits_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        split_pool(["a", "b", "c", "d"], **kwargs)
