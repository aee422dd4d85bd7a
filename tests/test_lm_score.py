"""Scoring: mean NLL over scored tokens, batched, equal to the naive per-example computation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from forgetmap.config import ExperimentConfig, load_config
from forgetmap.data import Example
from forgetmap.errors import ConfigError, ModelNotFoundError
from forgetmap.lm import _batch, encode_examples, load_model, score_nll
from forgetmap.lm._batch import length_sorted_batches

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny-random")


@pytest.fixture(scope="module")
def examples():
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    out = []
    for i in range(11):
        n = int(rng.integers(2, 12))
        sentence = " ".join(rng.choice(words, size=n))
        if i % 2:
            out.append(Example(f"c{i}", messages=(("user", f"say {i}"), ("assistant", sentence))))
        else:
            out.append(Example(f"t{i}", text=sentence))
    return out


def naive_nll(loaded, encoded) -> np.ndarray:
    """One example at a time, full logits, log-softmax by hand."""
    scores = []
    with torch.no_grad():
        for example in encoded:
            ids = torch.from_numpy(example.input_ids)[None]  # (1, T)
            logits = loaded.model(input_ids=ids).logits[0]  # (T, V)
            logp = torch.log_softmax(logits.double(), dim=-1)  # (T, V)
            token_logp = logp[:-1].gather(1, ids[0, 1:, None])[:, 0]  # (T-1,)
            mask = torch.from_numpy(example.scored[1:])
            scores.append(float(-token_logp[mask].mean()))
    return np.array(scores)


def test_score_equals_naive_per_example_computation(tiny, examples):
    encoded = encode_examples(tiny.tokenizer, examples, max_length=64)
    scores = score_nll(tiny, encoded, batch_size=4)
    assert scores.dtype == np.float64 and scores.shape == (len(examples),)
    np.testing.assert_allclose(scores, naive_nll(tiny, encoded), rtol=1e-5)


def test_scores_do_not_depend_on_batching_or_order(tiny, examples):
    encoded = encode_examples(tiny.tokenizer, examples, max_length=64)
    reference = score_nll(tiny, encoded, batch_size=1)
    for batch_size in (3, 16):
        np.testing.assert_allclose(
            score_nll(tiny, encoded, batch_size=batch_size), reference, rtol=1e-5
        )
    reverse = score_nll(tiny, encoded[::-1], batch_size=5)
    np.testing.assert_allclose(reverse[::-1], reference, rtol=1e-5)


def test_a_token_budget_batches_by_padded_tokens_and_scores_the_same(tiny, examples):
    encoded = encode_examples(tiny.tokenizer, examples, max_length=64)
    lengths = [len(e) for e in encoded]
    budget = 2 * max(lengths) + 1
    batches = length_sorted_batches(lengths, max_tokens=budget)
    assert sorted(np.concatenate(batches)) == list(range(len(encoded)))
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= budget
    assert max(len(b) for b in batches) > 2  # short examples share a batch of more rows
    reference = score_nll(tiny, encoded, batch_size=1)
    np.testing.assert_allclose(
        score_nll(tiny, encoded, max_batch_tokens=budget), reference, rtol=1e-5
    )
    # A budget below one example's length still scores it, alone.
    np.testing.assert_allclose(score_nll(tiny, encoded, max_batch_tokens=1), reference, rtol=1e-5)
    with pytest.raises(ConfigError, match="max_batch_tokens"):
        score_nll(tiny, encoded, max_batch_tokens=0)


def test_a_model_without_logits_to_keep_scores_the_same(tiny, examples, monkeypatch):
    encoded = encode_examples(tiny.tokenizer, examples, max_length=64)
    reference = score_nll(tiny, encoded, batch_size=4)
    monkeypatch.setattr(_batch, "_accepts_logits_to_keep", lambda model: False)
    np.testing.assert_allclose(score_nll(tiny, encoded, batch_size=4), reference, rtol=1e-5)


def test_max_batch_tokens_is_a_scoring_setting_left_out_of_old_fingerprints():
    config, _ = load_config(EXAMPLES / "tiny.toml")
    assert "max_batch_tokens" not in config.to_dict()["scoring"]
    assert config.scoring.batching() == {"batch_size": 16, "max_batch_tokens": None}
    document = config.model_dump()
    document["scoring"]["max_batch_tokens"] = 4096
    assert (
        ExperimentConfig.model_validate(document).to_dict()["scoring"]["max_batch_tokens"] == 4096
    )
    document["scoring"]["max_batch_tokens"] = 0
    with pytest.raises(ValueError, match="max_batch_tokens"):
        ExperimentConfig.model_validate(document)


def test_progress_reports_examples_done(tiny, examples):
    encoded = encode_examples(tiny.tokenizer, examples, max_length=64)
    seen: list[int] = []
    score_nll(tiny, encoded, batch_size=4, progress=seen.append)
    assert seen == [4, 8, 11]


def test_an_example_without_scored_tokens_scores_nan(tiny):
    encoded = encode_examples(
        tiny.tokenizer, [Example("x", text="x"), Example("y", text="yy")], max_length=8
    )
    scores = score_nll(tiny, encoded)
    assert np.isnan(scores[0]) and np.isfinite(scores[1])


def test_tiny_random_is_the_same_model_every_time(tiny, examples):
    encoded = encode_examples(tiny.tokenizer, examples[:3], max_length=64)
    again = load_model("tiny-random")
    np.testing.assert_array_equal(score_nll(again, encoded), score_nll(tiny, encoded))


@pytest.mark.parametrize("name", ["someorg/not-a-model-xyz", "./no/such/model/dir"])
def test_unknown_model_is_a_model_not_found_error(name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="local") as info:
        load_model(name)
    assert "\n" not in str(info.value)


def test_offline_hub_is_detected_quickly(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(ModelNotFoundError, match="hub is unreachable"):
        load_model("someorg/not-a-model-xyz")
