"""The replay statistics against scipy and hand-computed values on known inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from forgetmap.replay import (
    RunResult,
    bootstrap_ci,
    cohens_dz,
    holm,
    minimum_detectable_effect,
    paired_ttest,
    rank_biserial,
    reduction_ci,
    summarise,
    wilcoxon_paired,
)

# Darwin's maize data as differences (Fisher; the example of scipy.stats.wilcoxon).
DARWIN = np.array([6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75], dtype=float)


def test_wilcoxon_on_darwins_data():
    result = wilcoxon_paired(DARWIN, np.zeros_like(DARWIN))
    assert result["statistic"] == 24.0
    assert_allclose(result["p_value"], 0.041259765625, rtol=1e-12)
    reference = stats.wilcoxon(DARWIN)
    assert result["p_value"] == reference.pvalue
    # R- = 10 + 14 = 24 of 120: rank-biserial (96 - 24) / 120
    assert_allclose(result["effect_size"], 0.6)
    assert_allclose(rank_biserial(-DARWIN), -0.6)
    assert result["n"] == 15 and result["mean_difference"] == pytest.approx(DARWIN.mean())


def test_wilcoxon_with_ties_and_zeros_matches_scipy():
    rng = np.random.default_rng(0)
    x = np.round(rng.normal(0.2, 1, 40), 1)
    y = np.round(rng.normal(0.0, 1, 40), 1)
    y[:3] = x[:3]
    result = wilcoxon_paired(x, y)
    reference = stats.wilcoxon(x, y, zero_method="wilcox")
    assert result["statistic"] == reference.statistic
    assert_allclose(result["p_value"], reference.pvalue)


def test_paired_ttest_matches_scipy_and_dz_by_hand():
    x = np.array([2.1, 3.4, 1.9, 5.0, 4.2, 3.3])
    y = np.array([1.8, 3.9, 1.1, 4.1, 3.0, 3.1])
    result = paired_ttest(x, y)
    reference = stats.ttest_rel(x, y)
    assert_allclose(result["statistic"], reference.statistic, rtol=1e-12)
    assert_allclose(result["p_value"], reference.pvalue, rtol=1e-12)
    d = x - y
    assert_allclose(result["effect_size"], d.mean() / d.std(ddof=1))
    assert_allclose(cohens_dz(d), reference.statistic / np.sqrt(len(d)))


def test_degenerate_inputs():
    same = wilcoxon_paired(np.ones(5), np.ones(5))
    assert same["p_value"] == 1.0 and np.isnan(same["effect_size"])
    assert np.isnan(paired_ttest(np.ones(1), np.zeros(1))["p_value"])
    assert paired_ttest(np.ones(4), np.ones(4))["p_value"] == 1.0
    with pytest.raises(ValueError):
        wilcoxon_paired(np.ones(3), np.ones(4))


def test_bootstrap_matches_scipy_percentile_interval():
    values = np.random.default_rng(1).gamma(2.0, 1.0, 60)
    low, high = bootstrap_ci(values, n_resamples=20000, seed=3)
    reference = stats.bootstrap(
        (values,), np.mean, n_resamples=20000, method="percentile", rng=np.random.default_rng(5)
    ).confidence_interval
    assert_allclose([low, high], [reference.low, reference.high], atol=0.03)
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    assert low < values.mean() < high


def test_reduction_relative_to_random():
    random_runs = np.array([1.0, 2.0, 3.0, 4.0])
    targeted = np.array([0.5, 1.5, 2.0, 3.0])
    result = reduction_ci(random_runs, targeted, seed=0)
    assert_allclose(result["reduction"], 0.75)
    assert_allclose(result["relative"], 0.75 / 2.5)
    assert 0.5 <= result["ci_low"] <= 0.75 <= result["ci_high"] <= 1.0


def test_holm_matches_the_textbook_procedure():
    assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    adjusted = holm([0.2, float("nan"), 0.01])
    assert_allclose(adjusted[0], 0.2) and np.isnan(adjusted[1])
    assert_allclose(adjusted[2], 0.02)


def test_summary_document():
    rng = np.random.default_rng(0)
    n = 30
    pool, held = np.arange(20), np.arange(20, 30)
    runs = []
    for task in ("a", "b"):
        for seed in (0, 1):
            base = rng.normal(0.5, 0.2, n)
            for sampler, shift in (("none", 0.3), ("random", 0.1), ("predicted", 0.0)):
                runs.append(RunResult(task, seed, sampler, base + shift, 1.0 + shift))
    doc = summarise(runs, pool, held, n_resamples=500)
    assert set(doc["samplers"]) == {"none", "random", "predicted"}
    predicted = doc["samplers"]["predicted"]
    assert_allclose(predicted["reduction_vs_random"], 0.1)
    assert predicted["n_runs"] == 4
    pairs = {(t["a"], t["b"], t["unit"]) for t in doc["tests"]}
    assert pairs == {
        ("predicted", "random", "heldout_example"),
        ("predicted", "random", "run"),
        ("random", "none", "heldout_example"),
        ("random", "none", "run"),
    }
    wilcoxon = next(t for t in doc["tests"] if t["a"] == "predicted" and t["test"] == "wilcoxon")
    assert wilcoxon["effect_size"] == -1.0 and wilcoxon["n"] == 10
    assert_allclose(wilcoxon["mean_difference"], -0.1)
    for test in doc["tests"]:
        assert {"a", "b", "statistic", "p_value", "effect_size", "ci_low", "ci_high"} <= set(test)
    assert len(doc["runs"]) == 12


def test_minimum_detectable_effect_has_the_power_it_claims():
    # Simulate the paired t-test at the MDE the formula gives: it rejects ~80% of the time.
    rng = np.random.default_rng(3)
    pilot = rng.normal(0.0, 0.2, size=12)
    mde = minimum_detectable_effect(pilot)
    sd = pilot.std(ddof=1)
    samples = rng.normal(mde, sd, size=(20_000, 12))
    p_values = stats.ttest_1samp(samples, 0.0, axis=1).pvalue
    assert abs((p_values < 0.05).mean() - 0.8) < 0.015
    # More units, smaller MDE; the rank test needs pi/3 times the units.
    assert minimum_detectable_effect(np.tile(pilot, 4)) < mde / 1.8
    assert minimum_detectable_effect(pilot, rank_test=True) > mde
    assert math.isnan(minimum_detectable_effect(np.ones(5)))
    assert math.isnan(minimum_detectable_effect(np.array([0.1])))


def test_each_test_reports_its_minimum_detectable_effect():
    d = np.random.default_rng(0).normal(0.1, 0.3, size=40)
    assert paired_ttest(d, np.zeros(40))["mde_80"] == minimum_detectable_effect(d)
    assert wilcoxon_paired(d, np.zeros(40))["mde_80"] == minimum_detectable_effect(
        d, rank_test=True
    )
