"""Encoding: which tokens count, for plain text and chat."""

from __future__ import annotations

import numpy as np
import pytest

from forgetmap.data import Example
from forgetmap.errors import DataFormatError
from forgetmap.lm import encode_examples, load_model


@pytest.fixture(scope="module")
def tokenizer():
    return load_model("tiny-random").tokenizer


def chat(example_id: str, prompt: str, response: str) -> Example:
    return Example(example_id, messages=(("user", prompt), ("assistant", response)))


def response_tokens(tokenizer, encoded) -> str:
    return tokenizer.decode(encoded.input_ids[encoded.scored])


def test_plain_text_scores_every_token_but_the_first(tokenizer):
    (encoded,) = encode_examples(tokenizer, [Example("a", text="hello world")], max_length=64)
    assert encoded.input_ids.dtype == np.int64 and encoded.scored.dtype == bool
    assert encoded.scored.shape == encoded.input_ids.shape
    assert not encoded.scored[0] and encoded.scored[1:].all()
    assert tokenizer.decode(encoded.input_ids) == "hello world"


def test_chat_scores_exactly_the_response_and_end_of_turn(tokenizer):
    (encoded,) = encode_examples(tokenizer, [chat("c", "hi there", "hello!")], max_length=64)
    assert response_tokens(tokenizer, encoded) == "hello!<|im_end|>"
    # The scored span is one contiguous block at the end.
    first = int(np.argmax(encoded.scored))
    assert encoded.scored[first:].all() and not encoded.scored[:first].any()


def test_changing_the_prompt_does_not_change_the_counted_tokens(tokenizer):
    short, long = encode_examples(
        tokenizer,
        [
            chat("s", "hi", "The answer is 42."),
            chat("l", "a much longer question?" * 3, "The answer is 42."),
        ],
        max_length=256,
    )
    np.testing.assert_array_equal(short.input_ids[short.scored], long.input_ids[long.scored])
    assert short.n_scored == long.n_scored
    assert len(long) > len(short)


def test_truncation_keeps_the_response_of_a_chat(tokenizer):
    (encoded,) = encode_examples(tokenizer, [chat("c", "q" * 100, "yes")], max_length=20)
    assert len(encoded) == 20
    assert response_tokens(tokenizer, encoded) == "yes<|im_end|>"
    (text,) = encode_examples(tokenizer, [Example("t", text="z" * 100)], max_length=20)
    assert len(text) == 20 and text.n_scored == 19


def test_chat_needs_a_chat_template():
    from forgetmap.lm._tiny import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    tokenizer.chat_template = None
    with pytest.raises(DataFormatError, match="chat template"):
        encode_examples(tokenizer, [chat("c", "q", "a")], max_length=20)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({}, "exactly one"),
        ({"text": "a", "messages": (("user", "q"), ("assistant", "a"))}, "exactly one"),
        ({"text": "  "}, "empty"),
        ({"messages": (("user", "q"), ("assistant", " "))}, "response"),
        ({"messages": ()}, "non-empty"),
    ],
)
def test_bad_examples_are_refused(kwargs, problem):
    with pytest.raises(DataFormatError, match=problem):
        Example("bad", **kwargs)


def test_example_kind_and_display_text():
    text = Example("t", text="plain", source="pydoc")
    conversation = Example("c", messages=[["user", "hi"], ["assistant", "yo"]])
    assert text.kind == "text" and text.display_text == "plain"
    assert conversation.kind == "chat"
    assert conversation.messages == (("user", "hi"), ("assistant", "yo"))
    assert conversation.display_text == "user: hi\nassistant: yo"
    hash(conversation)
