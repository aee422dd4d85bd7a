"""Exact match by greedy decoding, on a tiny model made to memorise its answers."""

from __future__ import annotations

import numpy as np
import pytest

from forgetmap.data import Example
from forgetmap.errors import ConfigError
from forgetmap.lm import (
    TrainingSettings,
    base_weights,
    encode_examples,
    exact_match,
    finetune,
    load_model,
    task_batches,
)
from forgetmap.lm._generate import normalise_whitespace

MEMORISE = TrainingSettings(
    method="full", steps=30, batch_size=3, learning_rate=1e-2, warmup_steps=2, max_length=64
)


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny-random")


@pytest.fixture(scope="module")
def chats():
    # Prompts of different lengths, so that batches need left padding.
    return [
        Example("a", messages=(("user", "hi"), ("assistant", "hello there"))),
        Example("b", messages=(("user", "what colour is the sky?"), ("assistant", "blue"))),
        Example("c", messages=(("user", "2+2"), ("assistant", "four  and  more"))),
    ]


def test_whitespace_is_normalised():
    assert normalise_whitespace("  four \n and\tmore ") == "four and more"


def test_memorised_answers_match_and_others_do_not(tiny, chats):
    untrained = exact_match(tiny, chats)
    assert untrained.tolist() == [0.0, 0.0, 0.0]
    encoded = encode_examples(tiny.tokenizer, chats, max_length=64)
    with base_weights(tiny, MEMORISE):
        finetune(tiny, task_batches(encoded, MEMORISE, seed=0), MEMORISE)
        batched = exact_match(tiny, chats, batch_size=8)
        one_by_one = exact_match(tiny, chats, batch_size=1)
        wrong = Example("w", messages=(("user", "hi"), ("assistant", "goodbye")))
        text = Example("t", text="plain text has nothing to reproduce")
        mixed = exact_match(tiny, [text, wrong, chats[0]])
    assert batched.tolist() == [1.0, 1.0, 1.0]
    np.testing.assert_array_equal(one_by_one, batched)  # left padding changes nothing
    assert np.isnan(mixed[0]) and mixed[1:].tolist() == [0.0, 1.0]
    assert exact_match(tiny, chats).tolist() == [0.0, 0.0, 0.0]  # base weights again


def test_a_budget_too_small_for_the_answer_fails(tiny):
    example = Example("a", messages=(("user", "q"), ("assistant", "a long answer")))
    assert exact_match(tiny, [example], max_new_tokens=2).tolist() == [0.0]
    with pytest.raises(ConfigError):
        exact_match(tiny, [example], max_new_tokens=0)
