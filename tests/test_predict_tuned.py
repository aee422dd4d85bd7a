"""lowrank_tuned: rank and ridge chosen by inner validation on the training rows alone."""

from __future__ import annotations

import numpy as np
import pytest

from forgetmap.errors import PredictionError
from forgetmap.predict import ALL_METHODS, LowRank, TunedLowRank, evaluate, make_estimator
from forgetmap.predict._tuned import select_rank_and_ridge


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
    chosen = LowRank(rank=tuned.rank_, alpha=tuned.alpha_).fit(Z[1:])
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
    kwargs = dict(ranks=(1, 2, 3), alphas=(1.0, 10.0), k=30, n_rows=8, n_draws=1, max_columns=100)
    a = select_rank_and_ridge(Z, rows, rng=np.random.default_rng(7), **kwargs)
    b = select_rank_and_ridge(other, rows, rng=rng, **kwargs)
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
    with pytest.raises(PredictionError, match="one rank"):
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
