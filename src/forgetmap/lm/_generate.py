"""Exact match: does greedy decoding of a chat's prompt reproduce its response?"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from forgetmap.data import Example
from forgetmap.errors import ConfigError
from forgetmap.lm._batch import length_sorted_batches, pad_id
from forgetmap.lm._encode import chat_token_ids
from forgetmap.lm._loaded import LoadedModel

# Extra tokens allowed beyond the reference's own length, so that a response the model spells
# with a different (longer) tokenisation can still match.
SLACK_TOKENS = 4


def normalise_whitespace(text: str) -> str:
    """Collapse runs of whitespace to one space and strip the ends."""
    return " ".join(text.split())


def exact_match(
    loaded: LoadedModel,
    examples: Sequence[Example],
    *,
    max_new_tokens: int = 64,
    batch_size: int = 8,
) -> np.ndarray:
    """1.0 where greedy decoding after a chat's prompt reproduces its response, else 0.0.

    Prompts are batched by length with left padding; each batch decodes at most as many tokens
    as its longest reference needs (plus a little slack), capped at ``max_new_tokens``, and
    stops at the end-of-turn token. Texts are compared after collapsing whitespace; special
    tokens are dropped.

    Parameters
    ----------
    loaded : LoadedModel
    examples : sequence of Example, length N
    max_new_tokens : int
        Most tokens generated per example; a response that needs more counts as not reproduced.
    batch_size : int

    Returns
    -------
    ndarray of float64, shape (N,)
        1.0 or 0.0 for chat examples; NaN for plain-text ones (nothing to reproduce).
    """
    import torch
    from transformers import GenerationConfig

    if max_new_tokens < 1 or batch_size < 1:
        raise ConfigError("max_new_tokens and batch_size must be at least 1")
    tokenizer = loaded.tokenizer
    result = np.full(len(examples), np.nan, dtype=np.float64)
    chats = [i for i, example in enumerate(examples) if example.kind == "chat"]
    if not chats:
        return result
    encoded = [chat_token_ids(tokenizer, examples[i]) for i in chats]
    stops = _stop_tokens(loaded, [response for _, response in encoded])
    padding = pad_id(tokenizer)
    model = loaded.model
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for batch in length_sorted_batches([len(p) for p, _ in encoded], batch_size):
                prompts = [encoded[j][0] for j in batch]
                budget = min(max_new_tokens, max(len(encoded[j][1]) for j in batch) + SLACK_TOKENS)
                ids, mask = _left_pad(prompts, padding, loaded.device)  # (B, T) each
                config = GenerationConfig(
                    do_sample=False,
                    num_beams=1,
                    max_new_tokens=budget,
                    eos_token_id=stops,
                    pad_token_id=padding,
                )
                output = model.generate(
                    input_ids=ids, attention_mask=mask, generation_config=config
                )
                new = output[:, ids.shape[1] :].cpu().numpy()  # (B, <= budget)
                for row, j in enumerate(batch):
                    generated = tokenizer.decode(new[row], skip_special_tokens=True)
                    reference = examples[chats[j]].messages[-1][1]  # type: ignore[index]
                    same = normalise_whitespace(generated) == normalise_whitespace(reference)
                    result[chats[j]] = float(same)
    finally:
        model.train(was_training)
    return result


def _left_pad(prompts: Sequence[Sequence[int]], padding: int, device: Any) -> tuple[Any, Any]:
    """Left-pad prompts so that every row's next token is generated at the same position."""
    import torch

    width = max(len(p) for p in prompts)
    ids = np.full((len(prompts), width), padding, dtype=np.int64)  # (B, T)
    mask = np.zeros((len(prompts), width), dtype=np.int64)  # (B, T)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = prompt
        mask[row, width - len(prompt) :] = 1
    return torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)


def _stop_tokens(loaded: LoadedModel, responses: Sequence[Sequence[int]]) -> list[int]:
    """End-of-sequence ids: the tokenizer's and model's, and the template's end-of-turn token."""
    tokenizer = loaded.tokenizer
    special = set(tokenizer.all_special_ids)
    stops = {tokenizer.eos_token_id}
    configured = getattr(loaded.model.generation_config, "eos_token_id", None)
    stops.update(configured if isinstance(configured, list) else [configured])
    # The chat template closes each response with its end-of-turn token (ChatML: <|im_end|>).
    stops.update(response[-1] for response in responses if response and response[-1] in special)
    return sorted(int(s) for s in stops if s is not None)
