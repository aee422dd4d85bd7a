"""Forecast before fine-tuning (k = 0): the similarity prior, and `forecast --task-data`."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from forgetmap.predict import SimilarityPrior
from forgetmap.similarity import task_similarity
from tiny_run import small_store


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return small_store(tmp_path_factory.mktemp("before"))


def clustered(n_per: int = 6, n_examples: int = 200, seed: int = 0):
    """Two families of tasks: rows alike within a family; similarity high within, low across."""
    rng = np.random.default_rng(seed)
    profiles = rng.normal(size=(2, n_examples))
    family = np.repeat([0, 1], n_per)
    Z = profiles[family] + 0.3 * rng.normal(size=(2 * n_per, n_examples))
    S = np.where(family[:, None] == family[None, :], 0.8, 0.1) + 0.02 * rng.normal(
        size=(2 * n_per, 2 * n_per)
    )
    return Z, (S + S.T) / 2, family


def test_the_prior_leans_on_similarity_when_it_predicts_forgetting():
    Z, S, family = clustered()
    train = np.arange(1, len(Z))
    prior = SimilarityPrior().fit(Z[train], {"tfidf": S[np.ix_(train, train)]})
    assert np.isfinite(prior.temperature_) and prior.kind_ == "tfidf"
    predicted = prior.predict({"tfidf": S[0, train]})
    means = Z[train].mean(axis=0)
    assert np.sqrt(np.mean((predicted - Z[0]) ** 2)) < 0.6 * np.sqrt(np.mean((means - Z[0]) ** 2))
    # the weight goes to the task's own family
    assert prior.weights({"tfidf": S[0, train]})[family[train] == 0].sum() > 0.9


def test_the_prior_falls_back_to_the_column_means_when_similarity_says_nothing():
    Z, _, _ = clustered()
    noise = np.random.default_rng(1).uniform(size=(len(Z), len(Z)))
    prior = SimilarityPrior().fit(Z, {"embedding": (noise + noise.T) / 2})
    assert prior.temperature_ == float("inf")
    np.testing.assert_allclose(prior.predict({"embedding": noise[0]}), Z.mean(axis=0))


def test_the_choice_is_the_best_leave_one_task_out_setting_and_intervals_cover():
    Z, S, _ = clustered(seed=2)
    prior = SimilarityPrior().fit(Z, {"a": S, "b": np.ones_like(S)})
    best = min(prior.validation_, key=prior.validation_.get)
    assert (prior.kind_, prior.temperature_) == best
    # a brute-force leave-one-out of the chosen setting gives the recorded RMSE
    errors = []
    for i in range(len(Z)):
        keep = np.delete(np.arange(len(Z)), i)
        single = SimilarityPrior(temperatures=(prior.temperature_,))
        single._values = Z[keep]
        single.kind_, single.temperature_ = prior.kind_, prior.temperature_
        errors.append(single.predict({prior.kind_: S[i, keep]}) - Z[i])
    assert np.sqrt(np.mean(np.square(errors))) == pytest.approx(prior.validation_[best])
    # a task the prior has not seen, from one of the families: its intervals cover it
    Z, S, _ = clustered(n_per=7, seed=3)
    rest = np.arange(1, len(Z))
    prior = SimilarityPrior().fit(Z[rest], {"a": S[np.ix_(rest, rest)]})
    _, low, high = prior.predict_interval({"a": S[0, rest]}, level=0.9)
    assert 0.8 < np.mean((Z[0] >= low) & (Z[0] <= high)) <= 1.0


def test_task_similarity_finds_the_task_that_shares_its_words():
    tasks = [["the cat sat on the mat", "a cat"], ["stock prices rose"], []]
    similarity = task_similarity(tasks, [["my cat on a mat"]], "tfidf")
    assert similarity.shape == (3, 1)
    assert similarity[0, 0] > similarity[1, 0] and np.isnan(similarity[2, 0])


def test_forecast_task_data_ranks_every_example_without_a_checkpoint(cli, run, tmp_path):
    data = tmp_path / "new.jsonl"
    records = [
        {
            "id": f"n{i}",
            "messages": [
                {"role": "user", "content": f"hola {i}"},
                {"role": "assistant", "content": "buenos días, amigo"},
            ],
        }
        for i in range(6)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "prior.csv"
    result = cli("--format", "json", "forecast", run, "--task-data", data, "--out", out)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["k"] == 0 and doc["method"] == "similarity_prior"
    assert doc["similarity"] in ("tfidf", "embedding") and doc["training_tasks"] == 3
    assert {t["task"] for t in doc["nearest_tasks"]} == {"spanish", "german", "history"}
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12 and all(row["probed"] == "False" for row in rows)
    values = [float(row["forgetting"]) for row in rows]
    assert values == sorted(values, reverse=True)


def test_forecast_needs_exactly_one_of_checkpoint_and_task_data(cli, run, tmp_path):
    out = tmp_path / "r.csv"
    neither = cli("forecast", run, "--out", out)
    both = cli("forecast", run, "--checkpoint", tmp_path, "--task-data", tmp_path, "--out", out)
    for result in (neither, both):
        assert result.code == 2 and "--task-data" in result.err
        assert "Traceback" not in result.err
    assert not out.exists()
    missing = cli("forecast", run, "--task-data", tmp_path / "none.jsonl", "--out", out)
    assert missing.code == 2 and "does not exist" in missing.err and not out.exists()
