"""Patterns: planted blocks of extra forgetting are found, noise gives none; random groups are
not significant (FDR 0.05)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import forgetmap
from forgetmap.analysis import _coclusters, analyze, benjamini_hochberg, low_rank_fit
from forgetmap.analysis._coclusters import find_biclusters
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
    """The 10 × 50 block on a rank-1 matrix comes back whole, each member with its test."""
    _, tasks, examples = block_store
    top = document["coclusters"][0]
    assert set(top["tasks"]) == tasks and set(top["examples"]) == examples
    assert (top["n_tasks"], top["n_examples"]) == (10, 50)
    assert top["mean_residual"] > 0.5
    fdr = document["settings"]["fdr"]
    for key, ids in (("task_statistics", top["tasks"]), ("example_statistics", top["examples"])):
        rows = top[key]
        assert [row["id"] for row in rows] == ids
        assert all(row["q_value"] <= fdr and row["z"] > 3 for row in rows)
    zs = [row["z"] for row in top["example_statistics"]]
    assert zs == sorted(zs, reverse=True)
    # A strong block pulls the rank-1 fit; what it leaves elsewhere is far weaker.
    assert all(c["mean_residual"] < 0.2 for c in document["coclusters"][1:])
    assert not any(set(c["examples"]) & examples for c in document["coclusters"][1:])


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


# ---------------------------------------------------------------------- co-clusters
def _planted(m, n, block_tasks, block_examples, boost, noise, seed, missing=0.0):
    """Rank-1 forgetting plus ``boost`` on a random block, Gaussian noise, NaN at random."""
    rng = np.random.default_rng(seed)
    values = np.outer(rng.lognormal(0, 0.3, m), rng.gamma(2, 0.25, n))
    values += noise * rng.normal(size=(m, n))
    tasks = np.sort(rng.choice(m, block_tasks, replace=False))
    examples = np.sort(rng.choice(n, block_examples, replace=False))
    values[np.ix_(tasks, examples)] += boost
    if missing:
        values[rng.random((m, n)) < missing] = np.nan
    return values, tasks, examples


def _jaccard(found, planted):
    found, planted = set(found.tolist()), set(planted.tolist())
    return len(found & planted) / len(found | planted)


def _cell_jaccard(block, tasks, examples):
    shared = np.intersect1d(block.tasks, tasks).size * np.intersect1d(block.examples, examples).size
    union = block.tasks.size * block.examples.size + tasks.size * examples.size - shared
    return shared / union


def _blocks(values, **kwargs):
    return find_biclusters(values, low_rank_fit(values, 1, seed=0), **kwargs)


@pytest.mark.parametrize(
    ("m", "n", "block_tasks", "block_examples", "boost", "noise"),
    [
        (40, 500, 10, 50, 1.0, 0.05),  # the fixture's block, strong
        (40, 500, 10, 50, 1.0, 0.3),
        (40, 500, 10, 50, 1.0, 0.5),  # one block cell is 2 noise sds
        (60, 2000, 5, 200, 0.5, 0.2),  # few tasks, many examples
        (60, 2000, 20, 20, 0.8, 0.2),  # many tasks, few examples
        (40, 500, 2, 10, 1.0, 0.1),  # the smallest kind of block
    ],
)
def test_planted_blocks_are_recovered(m, n, block_tasks, block_examples, boost, noise):
    values, tasks, examples = _planted(m, n, block_tasks, block_examples, boost, noise, seed=3)
    blocks = _blocks(values)
    top = max(blocks, key=lambda block: block.mean_residual)
    task_jaccard, example_jaccard = _jaccard(top.tasks, tasks), _jaccard(top.examples, examples)
    assert task_jaccard >= 0.8 and example_jaccard >= 0.8, (task_jaccard, example_jaccard)
    assert _cell_jaccard(top, tasks, examples) >= 0.8
    assert np.all(top.task_q <= 0.05) and np.all(top.example_q <= 0.05)
    assert top.converged


def test_noise_gives_no_block():
    """Without a block, a block is reported for at most a few of 20 matrices, whatever the
    shape of the noise: the held-out test keeps the chance for each at most fdr = 0.05."""
    noises = {
        "normal": lambda rng, shape: rng.normal(size=shape),
        "student_t3": lambda rng, shape: rng.standard_t(3, size=shape),
        "exponential": lambda rng, shape: rng.exponential(size=shape),
    }
    for name, draw in noises.items():
        found = 0
        for seed in range(20):
            rng = np.random.default_rng(seed)
            values = np.outer(rng.lognormal(0, 0.3, 30), rng.gamma(2, 0.25, 300))
            found += bool(_blocks(values + 0.2 * draw(rng, values.shape), seed=seed))
        assert found <= 2, (name, found)


def test_a_rank1_matrix_has_no_cocluster(tmp_path):
    values, _, _ = _planted(30, 400, 0, 0, 0.0, 0.1, seed=5)
    store = forgetmap.create_store(
        tmp_path / "run",
        [f"t{i}" for i in range(30)],
        [f"e{j}" for j in range(400)],
        forgetting=values,
    )
    assert analyze(store, rank=2, group_fields=[])["coclusters"] == []


def test_two_blocks_are_peeled_one_after_the_other():
    values, tasks, examples = _planted(50, 1000, 8, 60, 1.0, 0.2, seed=4)
    rng = np.random.default_rng(9)
    other_tasks = np.sort(rng.choice(np.setdiff1d(np.arange(50), tasks), 6, replace=False))
    other_examples = np.sort(rng.choice(np.setdiff1d(np.arange(1000), examples), 100, False))
    values[np.ix_(other_tasks, other_examples)] += 0.7
    blocks = _blocks(values)
    for planted in ((tasks, examples), (other_tasks, other_examples)):
        assert max(_cell_jaccard(block, *planted) for block in blocks) >= 0.8


def test_masked_entries_are_left_out():
    values, tasks, examples = _planted(40, 800, 8, 60, 1.0, 0.2, seed=6, missing=0.2)
    fit = low_rank_fit(values, 1, seed=0)
    top = max(find_biclusters(values, fit), key=lambda block: block.mean_residual)
    assert _cell_jaccard(top, tasks, examples) >= 0.8
    residual = values - fit.reconstruct()
    cells = residual[np.ix_(top.tasks, top.examples)]
    assert top.mean_residual == pytest.approx(np.nanmean(cells), rel=1e-9)
    assert_allclose(top.example_residual, np.nanmean(cells, axis=0), rtol=1e-9)
    assert_allclose(top.task_residual, np.nanmean(cells, axis=1), rtol=1e-9)


def test_coclusters_are_deterministic_and_float32_stays_float32():
    values, tasks, examples = _planted(30, 600, 6, 40, 1.0, 0.2, seed=7)
    values = values.astype(np.float32)
    first, again = _blocks(values, seed=2), _blocks(values, seed=2)
    assert len(first) == len(again) >= 1
    for a, b in zip(first, again, strict=True):
        assert_array_equal(a.tasks, b.tasks)
        assert_array_equal(a.examples, b.examples)
        assert_array_equal(a.example_z, b.example_z)
    other = _blocks(values, seed=3)[0]  # another seed splits the examples otherwise
    assert _cell_jaccard(other, tasks, examples) >= 0.8
    residual = _coclusters._Residual.build(values, low_rank_fit(values, 1, seed=0), 0)
    raw, codes, measured = residual.read(slice(0, 100))
    assert raw.dtype == codes.dtype == measured.dtype == np.float32


def test_a_sampled_scale_still_finds_the_block(monkeypatch):
    """Above SAMPLE_EXAMPLES examples, scales and null laws come from a seeded sample."""
    values, tasks, examples = _planted(30, 1500, 6, 80, 1.0, 0.2, seed=8)
    monkeypatch.setattr(_coclusters, "SAMPLE_EXAMPLES", 400)
    top = max(_blocks(values), key=lambda block: block.mean_residual)
    assert _cell_jaccard(top, tasks, examples) >= 0.8


def test_document_lists_at_most_max_members_examples(monkeypatch, block_store):
    store, _, examples = block_store
    monkeypatch.setattr(_coclusters, "MAX_MEMBERS", 20)
    top = analyze(store, rank=2, group_fields=["source"], seed=1)["coclusters"][0]
    assert top["n_examples"] == 50 and len(top["examples"]) == 20
    assert len(top["example_statistics"]) == 20 and set(top["examples"]) <= examples
    assert len(top["tasks"]) == len(top["task_statistics"]) == top["n_tasks"] == 10


def test_null_laws_are_exact_convolutions():
    law = np.zeros((2, 2 * _coclusters._CODES + 1))
    law[0, _coclusters._CODES + np.array([0, 1])] = 0.5  # a fair coin on codes 0, 1
    law[1, _coclusters._CODES + np.array([-1, 1])] = [0.25, 0.75]
    summed, offset = _coclusters._convolve(law)
    sums = np.arange(summed.size) + offset
    assert_allclose(summed[np.isin(sums, [-1, 0, 1, 2])], [0.125, 0.125, 0.375, 0.375])
    assert_allclose(summed.sum(), 1.0)
    tail = _coclusters._upper_tail(summed, offset, np.array([1.0, 1.5, 3]))
    assert_allclose(tail[:2], [0.75, 0.375])
    assert tail[2] == _coclusters.P_FLOOR  # beyond the support: 0 but for the FFT's rounding
    coins, offset = _coclusters._convolve(law[:1], 3)  # three draws of the fair coin
    assert_allclose(coins[-offset : -offset + 4], [1 / 8, 3 / 8, 3 / 8, 1 / 8])
