"""A model's stack of transformer layers: how many, and which module holds them."""

from __future__ import annotations

from typing import Any

LAYER_COUNT_FIELDS = ("num_hidden_layers", "n_layer", "num_layers")
"""Config fields that name the number of layers, by architecture (Llama-style, GPT-2, T5...)."""


def layer_count(model: Any) -> int | None:
    """The number of transformer layers from the model's config, None when it names none."""
    config = getattr(model, "config", None)
    for name in LAYER_COUNT_FIELDS:
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


def decoder_layers(model: Any) -> Any:
    """The model's list of transformer layers (the ``ModuleList`` as long as its layer count),
    or None when it cannot be told."""
    import torch

    count = layer_count(model)
    if count is None:
        return None
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return module
    return None
