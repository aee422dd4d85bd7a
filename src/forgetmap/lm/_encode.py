"""Turn examples into token ids plus the mask of tokens that are scored and trained on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forgetmap.data import Example
from forgetmap.errors import ConfigError, DataFormatError


@dataclass(frozen=True)
class EncodedExample:
    """One tokenised example.

    Attributes
    ----------
    id : str
        The example's id.
    input_ids : ndarray of int64, shape (T,)
        Token ids.
    scored : ndarray of bool, shape (T,)
        ``scored[t]``: token ``t`` is predicted (from tokens ``< t``) and counted in the mean NLL
        and the training loss. Always False at ``t = 0``.
    """

    id: str
    input_ids: np.ndarray
    scored: np.ndarray

    @property
    def n_scored(self) -> int:
        """How many tokens count."""
        return int(self.scored.sum())

    def __len__(self) -> int:
        return len(self.input_ids)


def encode_examples(
    tokenizer: Any, examples: Sequence[Example], *, max_length: int
) -> list[EncodedExample]:
    """Tokenise examples and mark the tokens that count.

    Plain text counts every token but the first. A chat is laid out by the tokenizer's chat
    template and counts only the response (the last message, with the template's end-of-turn
    token after it). The prompt and the response are tokenised separately, exactly as the model
    sees them when it generates the response after the prompt; so the response tokens, and which
    of them count, do not depend on the prompt.

    Parameters
    ----------
    tokenizer : transformers tokenizer
        Needs a chat template for chat examples.
    examples : sequence of Example
    max_length : int
        At most this many tokens per example. Plain text is cut at the end; a chat keeps its
        response (cut at the end only when it alone is too long) and drops the start of the prompt.

    Returns
    -------
    list of EncodedExample, in the order of ``examples``.
    """
    if max_length < 2:
        raise ConfigError(f"max_length must be at least 2 tokens, got {max_length}")
    encoded = []
    for example in examples:
        if example.kind == "text":
            assert example.text is not None
            ids = list(tokenizer(example.text, add_special_tokens=True)["input_ids"])[:max_length]
            scored = np.ones(len(ids), dtype=bool)
            scored[:1] = False
        else:
            prompt, response = chat_token_ids(tokenizer, example)
            keep_response = min(len(response), max_length - 1)
            keep_prompt = min(len(prompt), max_length - keep_response)
            ids = prompt[len(prompt) - keep_prompt :] + response[:keep_response]
            scored = np.zeros(len(ids), dtype=bool)
            scored[keep_prompt:] = True
            scored[:1] = False
        encoded.append(
            EncodedExample(example.id, np.asarray(ids, dtype=np.int64).reshape(-1), scored)
        )
    return encoded


def chat_prompt_text(tokenizer: Any, example: Example) -> str:
    """The chat template's text up to where the assistant's response starts."""
    assert example.messages is not None
    return _apply_template(tokenizer, example, example.messages[:-1], generation_prompt=True)


def chat_token_ids(tokenizer: Any, example: Example) -> tuple[list[int], list[int]]:
    """Token ids of the prompt (all messages but the last) and of the response."""
    assert example.messages is not None
    prompt = chat_prompt_text(tokenizer, example)
    full = _apply_template(tokenizer, example, example.messages, generation_prompt=False)
    if not full.startswith(prompt):
        raise DataFormatError(
            f"example {example.id!r}: the tokenizer's chat template does not render the "
            "conversation as its prompt followed by the response, so the response cannot be "
            "scored on its own"
        )
    # Whitespace after the end-of-turn token (ChatML's newline) is layout, not response.
    response = full[len(prompt) :].rstrip()
    prompt_ids = _plain_ids(tokenizer, prompt)
    response_ids = _plain_ids(tokenizer, response)
    return prompt_ids, response_ids


def _plain_ids(tokenizer: Any, text: str) -> list[int]:
    # The template already holds every special token; adding a BOS again would duplicate it.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _apply_template(
    tokenizer: Any,
    example: Example,
    messages: Sequence[tuple[str, str]],
    *,
    generation_prompt: bool,
) -> str:
    if not getattr(tokenizer, "chat_template", None):
        raise DataFormatError(
            f"example {example.id!r} is a chat but the model's tokenizer has no chat template; "
            "use plain-text examples or a chat model"
        )
    conversation = [{"role": role, "content": content} for role, content in messages]
    return tokenizer.apply_chat_template(
        conversation, tokenize=False, add_generation_prompt=generation_prompt
    )
