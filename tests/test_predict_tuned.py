"""Tuned methods and auto: settings (and method) chosen by inner validation on the training rows
alone."""

from __future__ import annotations

import numpy as np
import pytest

from forgetmap.errors import PredictionError
from forgetmap.predict import (
    ALL_METHODS,
    Auto,
    LowRank,
    TunedLowRank,
    _tuned,
    evaluate,
    make_estimator,
)
from forgetmap.predict._tuned import AUTO_CANDIDATES, select_candidate


def planted(rank: int, noise: float, m: int = 16, n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, rank)) @ rng.normal(size=(rank, n)) + noise * rng.normal(size=(m, n))


@pytest.mark.parametrize("rank", [1, 3])
def test_a_planted_rank_is_chosen(rank):
    estimator = TunedLowRank(ranks=(1, 2, 3, 5, 8), k=40, random_state=0).fit(planted(rank, 0.05))
    assert estimator.rank_ == rank
    assert estimator.estimator_.rank == rank and estimator.estimator_.alpha == estimator.alpha_


def test_pure_noise_gets_the_smallest_model_and_strong_ridge():
    noise = np.random.default_rng(1).normal(size=(14, 300))
    estimator = TunedLowRank(k=30, random_state=0).fit(noise)
    assert estimator.rank_ <= 2 and estimator.alpha_ >= 10


def test_predictions_are_the_chosen_models():
    Z = planted(2, 0.1)
    tuned = TunedLowRank(k=30, random_state=4).fit(Z[1:])
    seed = tuned.estimator_.random_state  # the interval's calibration draws from it
    chosen = LowRank(rank=tuned.rank_, alpha=tuned.alpha_, random_state=seed).fit(Z[1:])
    cols = np.arange(0, 400, 13)
    np.testing.assert_allclose(
        tuned.predict_row(cols, Z[0, cols]), chosen.predict_row(cols, Z[0, cols])
    )
    for a, b in zip(
        tuned.predict_interval(cols, Z[0, cols]),
        chosen.predict_interval(cols, Z[0, cols]),
        strict=True,
    ):
        np.testing.assert_allclose(a, b)


def test_the_choice_is_seeded_and_reads_only_the_training_rows():
    Z = planted(3, 0.5, seed=2)
    first = TunedLowRank(random_state=7).fit(Z)
    again = TunedLowRank(random_state=7).fit(Z.copy())
    assert first.validation_errors_ == again.validation_errors_
    rng = np.random.default_rng(7)
    rows = np.arange(8)
    other = Z.copy()
    other[8:] = np.nan  # rows outside the training rows are never read
    kwargs = dict(k=30, n_rows=8, n_draws=1, max_columns=100)
    a = select_candidate(Z, rows, AUTO_CANDIDATES, rng=np.random.default_rng(7), **kwargs)
    b = select_candidate(other, rows, AUTO_CANDIDATES, rng=rng, **kwargs)
    assert a == b


def test_too_few_rows_fall_back_to_one_factor():
    Z = planted(2, 0.1, m=3)
    estimator = TunedLowRank(random_state=0).fit(Z)
    assert estimator.rank_ == 1 and estimator.validation_errors_ == {}


def test_masked_rows_are_validated_on_what_was_measured():
    Z = planted(2, 0.1)
    Z[np.random.default_rng(3).random(Z.shape) < 0.2] = np.nan
    estimator = TunedLowRank(k=20, random_state=0).fit(Z)
    assert (
        estimator.rank_ in (2, 3) and np.isfinite(list(estimator.validation_errors_.values())).all()
    )


def test_bad_settings_are_refused():
    with pytest.raises(PredictionError, match="max_columns > k"):
        TunedLowRank(k=50, max_columns=40).fit(planted(2, 0.1))
    with pytest.raises(PredictionError, match="one candidate"):
        TunedLowRank(ranks=()).fit(planted(2, 0.1))


def test_the_registry_passes_the_evaluations_k():
    assert "lowrank_tuned" in ALL_METHODS
    assert make_estimator("lowrank_tuned", seed=3, k=12).k == 12


def test_it_beats_a_fixed_rank_where_the_fixed_rank_overfits():
    # a rank-1 matrix with noise: five factors folded in from 10 probes fit the noise
    Z = planted(1, 0.8, m=14, n=300, seed=5)
    document = evaluate(Z, methods=["lowrank", "lowrank_tuned", "mean"], k=10, seeds=3)
    rmse = {name: document["methods"][name]["rmse"] for name in document["methods"]}
    assert rmse["lowrank_tuned"] < rmse["lowrank"] and rmse["lowrank_tuned"] < rmse["mean"]


def test_inner_validation_from_shared_statistics_equals_refitting(monkeypatch):
    """On a complete matrix every inner fit is a downdate; forcing a refit per inner fold must
    give the same errors for every candidate."""
    Z = planted(2, 0.3, m=10, n=200, seed=6)
    kwargs = dict(k=20, n_rows=5, n_draws=2, max_columns=150)
    fast_choice, fast = select_candidate(
        Z, np.arange(10), AUTO_CANDIDATES, rng=np.random.default_rng(3), **kwargs
    )
    monkeypatch.setattr(_tuned, "_shared_statistics", lambda sub: None)
    slow_choice, slow = select_candidate(
        Z, np.arange(10), AUTO_CANDIDATES, rng=np.random.default_rng(3), **kwargs
    )
    assert fast.keys() == slow.keys() and len(fast) == len(AUTO_CANDIDATES) - 4  # not rank 8
    np.testing.assert_allclose([fast[c] for c in fast], [slow[c] for c in fast], rtol=1e-6)
    assert fast_choice == slow_choice


def test_auto_chooses_the_method_that_fits_the_structure():
    rng = np.random.default_rng(8)
    additive = (
        rng.normal(size=(14, 1)) + rng.normal(size=(1, 300)) + 0.3 * rng.normal(size=(14, 300))
    )
    assert Auto(k=30, random_state=0).fit(additive).choice_.method in ("additive", "knn")
    lowrank = Auto(k=30, random_state=0).fit(planted(3, 0.05, m=14, n=300))
    assert lowrank.choice_.method == "lowrank" and lowrank.choice_.settings()["rank"] == 3
    assert isinstance(lowrank.estimator_, LowRank) and lowrank.estimator_.rank == 3


def test_auto_and_tuned_methods_are_registered_with_the_evaluations_k():
    for name in ("auto", "knn_tuned", "additive_tuned"):
        assert name in ALL_METHODS and make_estimator(name, seed=1, k=7).k == 7
    methods = {c.method for c in make_estimator("knn_tuned").candidates}
    assert methods == {"knn"}
