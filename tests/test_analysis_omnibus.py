"""The omnibus family tests: planted differences in amount and in pattern are found, random
labels are not, and the statistics equal their textbook definitions."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import f_oneway

from forgetmap.analysis._omnibus import _pseudo_f, family_tests, profile_gram

M, N = 12, 200
families = np.repeat([0, 1, 2], [3, 5, 4])  # three families of 3, 5 and 4 tasks


def _tests(values: np.ndarray, codes: np.ndarray, seed: int = 0) -> dict[str, dict]:
    task_mean, example_mean = np.nanmean(values, axis=1), np.nanmean(values, axis=0)
    gram = profile_gram(values, task_mean, example_mean, float(np.nanmean(values)))
    labels = {"group": (codes, ["a", "b", "c"])}
    rows = family_tests(labels, task_mean, gram, np.random.default_rng(seed))
    return {row["test"]: row for row in rows}


@pytest.fixture
def noise() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(0.0, 0.3, (M, N)) + rng.normal(0.0, 0.5, N)  # example effects only


def test_families_that_forget_different_amounts_are_found(noise):
    values = noise + np.array([-0.3, 0.2, 0.15])[families][:, None]
    tests = _tests(values, families)
    assert tests["families_amount_permutation"]["p_value"] < 0.01
    assert tests["families_pattern_permutation"]["p_value"] > 0.01  # same examples, no pattern


def test_families_that_forget_different_examples_are_found(noise):
    rng = np.random.default_rng(1)
    patterns = rng.normal(0.0, 0.3, (3, N))  # each family its own examples, same mean amount
    patterns -= patterns.mean(axis=1, keepdims=True)
    values = noise + patterns[families]
    tests = _tests(values, families)
    assert tests["families_pattern_permutation"]["p_value"] < 0.01
    assert tests["families_amount_permutation"]["p_value"] > 0.01


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_labels_are_not_significant(noise, seed):
    codes = np.random.default_rng(seed).permutation(families)
    tests = _tests(noise, codes, seed)
    assert all(row["p_value"] > 0.01 for row in tests.values())
    assert {row["value"] for row in tests.values()} == {"all groups"}


def test_the_amount_statistic_is_the_one_way_anova_f():
    x = np.random.default_rng(2).normal(size=M)
    centred = x - x.mean()
    ours = _pseudo_f(np.outer(centred, centred), families[None, :], 3)[0]
    assert_allclose(ours, f_oneway(*(x[families == g] for g in range(3))).statistic, rtol=1e-10)


def test_the_pattern_statistic_is_permanova_on_euclidean_distances(noise):
    values = noise.copy()
    values[0, :5] = np.nan  # unmeasured entries add no distance
    task_mean, example_mean = np.nanmean(values, axis=1), np.nanmean(values, axis=0)
    mean = float(np.nanmean(values))
    gram = profile_gram(values, task_mean, example_mean, mean)
    resid = np.nan_to_num(values - task_mean[:, None] - example_mean[None, :] + mean)
    d2 = ((resid[:, None, :] - resid[None, :, :]) ** 2).sum(axis=2)
    total = d2.sum() / (2 * M)
    within = sum(
        d2[np.ix_(families == g, families == g)].sum() / (2 * (families == g).sum())
        for g in range(3)
    )
    expected = ((total - within) / 2) / (within / (M - 3))
    assert_allclose(_pseudo_f(gram, families[None, :], 3)[0], expected, rtol=1e-9)


def test_fields_without_a_comparison_are_skipped():
    task_mean = np.zeros(4)
    gram = np.zeros((4, 4))
    labels = {"one": (np.zeros(4, int), ["x"]), "each": (np.arange(4), list("abcd"))}
    assert family_tests(labels, task_mean, gram, np.random.default_rng(0)) == []
