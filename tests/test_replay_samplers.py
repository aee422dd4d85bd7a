"""The samplers: equal budgets, weighted draws in proportion to their weights."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from forgetmap.errors import ConfigError
from forgetmap.replay import SAMPLERS, cover_directions, draw_replay, softmax_weights

SCORES = np.array([0.5, -0.2, 0.1, 0.9, 0.0, 0.3, -0.4, 0.7, 0.2, 0.05])
DIRECTIONS = np.random.default_rng(4).normal(size=(SCORES.size, 3))


@pytest.mark.parametrize("budget", [1, 7, 10, 23])
def test_budgets_are_equal_across_samplers(budget):
    sizes = {
        s: draw_replay(
            s, SCORES.size, budget, scores=SCORES, temperature=0.3, directions=DIRECTIONS, seed=1
        ).size
        for s in SAMPLERS
    }
    assert sizes == {"none": 0} | {s: budget for s in SAMPLERS if s != "none"}


@pytest.mark.parametrize("sampler", [s for s in SAMPLERS if s != "none"])
def test_draws_are_without_replacement_within_the_pool(sampler):
    options = {"scores": SCORES, "temperature": 0.3, "directions": DIRECTIONS, "seed": 2}
    drawn = draw_replay(sampler, SCORES.size, 8, **options)
    assert len(set(drawn.tolist())) == 8
    assert drawn.min() >= 0 and drawn.max() < SCORES.size
    # A budget above the pool size takes the whole pool in rounds.
    drawn = draw_replay(sampler, SCORES.size, 25, **options)
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


def test_directions_cover_each_cluster_of_at_risk_examples_once():
    # Three tight clusters of directions; the first two at risk (high scores), with the first
    # cluster the largest. Top-k spends the budget on one cluster; covering takes one of each
    # at-risk cluster before a second from any.
    rng = np.random.default_rng(0)
    centres = np.eye(3)
    cluster = np.repeat([0, 1, 2], [6, 4, 5])
    directions = centres[cluster] + 0.05 * rng.normal(size=(15, 3))
    scores = np.where(cluster == 2, -1.0, 1.0) + 0.1 * (cluster == 0)
    picked = cover_directions(directions, softmax_weights(scores, 0.5), 2)
    assert sorted(cluster[picked].tolist()) == [0, 1]
    topk = draw_replay("predicted_topk", 15, 2, scores=scores, seed=0)
    assert set(cluster[topk].tolist()) == {0}
    # The first pick is the one whose cluster carries the most weight.
    assert cluster[picked[0]] == 0


def test_covering_is_deterministic_and_needs_directions():
    a = draw_replay("predicted_directions", 10, 4, scores=SCORES, directions=DIRECTIONS, seed=3)
    b = draw_replay("predicted_directions", 10, 4, scores=SCORES, directions=DIRECTIONS, seed=3)
    assert np.array_equal(a, b)
    with pytest.raises(ConfigError, match="direction"):
        draw_replay("predicted_directions", 10, 4, scores=SCORES, seed=3)
    # An example without a direction covers only itself.
    flat = np.zeros((10, 3))
    assert sorted(cover_directions(flat, softmax_weights(SCORES, 0.3), 3).tolist()) == [0, 3, 7]
