"""Patterns: a planted block of extra forgetting is found; random groups are not (FDR 0.05)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

import forgetmap
from forgetmap.analysis import analyze, benjamini_hochberg
from forgetmap.analysis._patterns import mean_difference_test, two_proportion_z

M, N = 40, 500


@pytest.fixture(scope="module")
def block_store(tmp_path_factory):
    """Rank-1 forgetting plus 1.0 extra on 10 tasks × 50 examples, labelled, with random labels."""
    rng = np.random.default_rng(1)
    values = np.outer(rng.lognormal(0, 0.3, M), rng.gamma(2, 0.25, N))
    values += 0.05 * rng.normal(size=(M, N))
    block_tasks = rng.choice(M, 10, replace=False)
    block_examples = rng.choice(N, 50, replace=False)
    values[np.ix_(block_tasks, block_examples)] += 1.0
    family = np.array(["other"] * M, dtype=object)
    family[block_tasks] = "block"
    source = np.array(["other"] * N, dtype=object)
    source[block_examples] = "block"
    store = forgetmap.create_store(
        tmp_path_factory.mktemp("block") / "run",
        [f"t{i:02d}" for i in range(M)],
        [f"e{j:03d}" for j in range(N)],
        task_table={"group": family, "random": rng.choice(["r0", "r1", "r2", "r3"], M)},
        example_table={
            "source": source,
            "random": rng.choice(list("abcde"), N),
            "text": [f"example text {j}" for j in range(N)],
            "n_tokens": rng.integers(5, 50, N),
        },
        forgetting=values,
    )
    tasks = {f"t{i:02d}" for i in block_tasks}
    examples = {f"e{j:03d}" for j in block_examples}
    return store, tasks, examples


@pytest.fixture(scope="module")
def document(block_store):
    return analyze(block_store[0], seed=0)


def test_planted_block_is_the_top_cocluster(block_store, document):
    _, tasks, examples = block_store
    top = document["coclusters"][0]
    assert set(top["tasks"]) == tasks
    assert len(examples & set(top["examples"])) >= 48
    assert top["n_examples"] <= 55
    assert top["mean_residual"] > 0.5 > document["coclusters"][1]["mean_residual"]


def test_planted_block_is_a_significant_group_and_random_groups_are_not(document):
    fdr = document["settings"]["fdr"]
    assert fdr == 0.05
    by_key = {(g["axis"], g["field"], g["value"], g["test"]): g for g in document["groups"]}
    assert by_key[("examples", "source", "block", "mean_residual_welch_t")]["q_value"] < fdr
    assert by_key[("examples", "source", "block", "top_q_z")]["q_value"] < fdr
    assert by_key[("tasks", "group", "block", "mean_residual_permutation")]["q_value"] < fdr
    random = [g for g in document["groups"] if g["field"] == "random"]
    assert len([g for g in random if g["value"] != "all groups"]) == 2 * (4 + 5)
    assert not any(g["significant"] for g in random)  # the omnibus tests of it neither
    assert all(g["significant"] == (g["q_value"] <= fdr) for g in document["groups"])


def test_document_schema_and_extremes(document):
    assert set(document["fits"]) == {"row_only", "column_only", "additive", "multiplicative"}
    assert list(document["rank_r2"]) == [str(k) for k in range(1, 11)]
    assert len(document["components"]) == 10
    assert document["components"][0]["tasks"][0].keys() == {"id", "loading"}
    assert len(document["tasks"]) == M and {"id", "mean", "std"} <= document["tasks"][0].keys()
    means = [e["mean"] for e in document["most_forgotten"]]
    assert means == sorted(means, reverse=True)
    assert document["most_forgotten"][0]["text"].startswith("example text")
    assert document["most_forgotten"][0]["mean"] >= document["least_forgotten"][-1]["mean"]
    assert set(document["correlations"]) == {"example.n_tokens"}
    assert abs(document["correlations"]["example.n_tokens"]["pearson"]) < 0.2


def test_similarity_and_property_correlations(tmp_path):
    rng = np.random.default_rng(0)
    similarity = rng.random((6, 40))
    values = 2 * similarity + 0.01 * rng.normal(size=(6, 40))
    store = forgetmap.create_store(
        tmp_path / "run",
        [f"t{i}" for i in range(6)],
        [f"e{j}" for j in range(40)],
        forgetting=values,
        with_scores=True,
        summaries=[{"loss_drop": float(i), "steps": 20, "tokens": 100 * i} for i in range(6)],
    )
    store.write_before({"nll": values.mean(axis=0) * 3 + 1})
    store.save_array("similarity_tfidf", similarity)
    document = analyze(store)
    tfidf = document["correlations"]["tfidf"]
    assert tfidf["pearson"] == pytest.approx(np.corrcoef(values.ravel(), similarity.ravel())[0, 1])
    assert tfidf["spearman"] > 0.99 and tfidf["n"] == 240
    assert document["correlations"]["example.before_score"]["pearson"] == pytest.approx(1.0)
    assert document["correlations"]["task.steps"]["pearson"] is None  # constant
    assert document["correlations"]["task.loss_drop"]["n"] == 6


def test_benjamini_hochberg_matches_the_definition():
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.001])
    q = benjamini_hochberg(p)
    order = np.argsort(p)
    expected = np.minimum.accumulate((p[order] * 5 / np.arange(1, 6))[::-1])[::-1]
    assert_allclose(q[order], expected)


def test_tests_behave_under_the_null():
    rng = np.random.default_rng(3)
    _, p = two_proportion_z(5, 50, 45, 450)  # equal shares
    assert p == pytest.approx(0.5)
    _, p, name = mean_difference_test(rng.normal(size=8), rng.normal(size=30), rng)
    assert name == "permutation" and 0.05 < p <= 1
    _, p, name = mean_difference_test(rng.normal(1, 1, 40), rng.normal(size=40), rng)
    assert name == "welch_t" and p < 1e-3


def test_cocluster_on_a_sample_then_placing_every_example(block_store, monkeypatch):
    from forgetmap.analysis import _patterns

    store, tasks, examples = block_store
    monkeypatch.setattr(_patterns, "COCLUSTER_EXAMPLES", 250)
    document = analyze(store, rank=2, group_fields=["source"], seed=1)
    top = document["coclusters"][0]
    assert set(top["tasks"]) == tasks
    assert len(examples & set(top["examples"])) >= 45 and top["n_examples"] <= 60
    assert sum(c["n_examples"] for c in document["coclusters"]) <= N
