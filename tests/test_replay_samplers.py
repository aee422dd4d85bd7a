"""The samplers: equal budgets, weighted draws in proportion to their weights."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from forgetmap.errors import ConfigError
from forgetmap.replay import SAMPLERS, draw_replay, softmax_weights

SCORES = np.array([0.5, -0.2, 0.1, 0.9, 0.0, 0.3, -0.4, 0.7, 0.2, 0.05])


@pytest.mark.parametrize("budget", [1, 7, 10, 23])
def test_budgets_are_equal_across_samplers(budget):
    sizes = {
        s: draw_replay(s, SCORES.size, budget, scores=SCORES, temperature=0.3, seed=1).size
        for s in SAMPLERS
    }
    assert sizes == {"none": 0} | {s: budget for s in SAMPLERS if s != "none"}


@pytest.mark.parametrize("sampler", ["random", "predicted", "ground_truth", "predicted_topk"])
def test_draws_are_without_replacement_within_the_pool(sampler):
    drawn = draw_replay(sampler, SCORES.size, 8, scores=SCORES, temperature=0.3, seed=2)
    assert len(set(drawn.tolist())) == 8
    assert drawn.min() >= 0 and drawn.max() < SCORES.size
    # A budget above the pool size takes the whole pool in rounds.
    drawn = draw_replay(sampler, SCORES.size, 25, scores=SCORES, temperature=0.3, seed=2)
    counts = np.bincount(drawn, minlength=SCORES.size)
    assert counts.min() >= 2 and counts.max() <= 3


def test_same_seed_same_draw():
    a = draw_replay("predicted", 10, 5, scores=SCORES, temperature=0.2, seed=9)
    b = draw_replay("predicted", 10, 5, scores=SCORES, temperature=0.2, seed=9)
    c = draw_replay("predicted", 10, 5, scores=SCORES, temperature=0.2, seed=10)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_topk_takes_the_highest_scores():
    drawn = draw_replay("predicted_topk", SCORES.size, 3, scores=SCORES, seed=0)
    assert sorted(drawn.tolist()) == [0, 3, 7]


def test_ground_truth_draws_in_proportion_to_its_weights():
    # The first draw of successive sampling has probability softmax(score / T); with a fixed
    # seed stream, 4000 first draws must fit those probabilities (chi-square goodness of fit).
    temperature = 0.25
    weights = softmax_weights(SCORES, temperature)
    rng = np.random.default_rng(12345)
    first = [
        draw_replay(
            "ground_truth", SCORES.size, 1, scores=SCORES, temperature=temperature, seed=rng
        )[0]
        for _ in range(4000)
    ]
    observed = np.bincount(first, minlength=SCORES.size)
    result = chisquare(observed, weights * observed.sum())
    assert result.pvalue > 0.01
    # and the weights order the draws: the most weighted example is drawn most often
    assert observed.argmax() == weights.argmax()


def test_uniform_sampler_is_uniform():
    rng = np.random.default_rng(7)
    first = [draw_replay("random", 10, 1, seed=rng)[0] for _ in range(3000)]
    assert chisquare(np.bincount(first, minlength=10)).pvalue > 0.01


def test_low_temperature_concentrates_high_temperature_flattens():
    hot = softmax_weights(SCORES, 100.0)
    cold = softmax_weights(SCORES, 0.01)
    assert np.allclose(hot, 0.1, atol=0.01)
    assert cold.argmax() == 3 and cold[3] > 0.99


@pytest.mark.parametrize("temperature", [0, -1.0, float("nan")])
def test_temperature_must_be_positive(temperature):
    with pytest.raises(ConfigError, match="temperature"):
        draw_replay("predicted", 10, 2, scores=SCORES, temperature=temperature)


def test_weighted_samplers_need_finite_scores():
    with pytest.raises(ConfigError, match="score"):
        draw_replay("predicted", 10, 2)
    with pytest.raises(ConfigError, match="non-finite"):
        draw_replay("ground_truth", 3, 2, scores=np.array([0.1, np.nan, 0.2]))
    with pytest.raises(ConfigError, match="unknown sampler"):
        draw_replay("bogus", 3, 2)
