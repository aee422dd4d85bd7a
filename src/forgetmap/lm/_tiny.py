"""``tiny-random``: a seeded, randomly initialised GPT-2-style model, built locally in seconds.

It lets tests and smoke runs exercise the whole pipeline (chat template, scoring, LoRA and full
fine-tuning, generation) without network access or a download. Its tokenizer maps every byte to one
token (plus the ChatML special tokens), so any text is encodable and nothing is ever unknown.
"""

from __future__ import annotations

from typing import Any

TINY_SEED = 0

# ChatML, as SmolLM2 uses, without a default system prompt.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def build_tiny_tokenizer() -> Any:
    """A byte-level tokenizer: 256 byte tokens, then the special tokens, with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: index for index, symbol in enumerate(alphabet)}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(list(SPECIAL_TOKENS))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(vocab_size: int, *, seed: int = TINY_SEED) -> Any:
    """A 2-layer, 64-wide GPT-2 with weights drawn from ``seed`` (global RNG state untouched)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=1024,
        n_embd=64,
        n_layer=2,
        n_head=4,
        # No dropout: the model is deterministic in train mode too, like the bundled SmolLM2.
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 3,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    return model


def build_tiny_random() -> tuple[Any, Any]:
    """The ``tiny-random`` model and tokenizer (same weights on every call)."""
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(len(tokenizer))
    return model, tokenizer
