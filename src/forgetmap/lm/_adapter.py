"""LoRA adapters, and ``base_weights``: every task starts from the same base model."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from forgetmap.errors import ConfigError
from forgetmap.lm._layers import layer_count
from forgetmap.lm._loaded import LoadedModel
from forgetmap.lm._settings import TrainingSettings


def has_adapter(model: Any) -> bool:
    """Whether ``model`` is wrapped by peft (carries a LoRA adapter)."""
    from peft import PeftModel

    return isinstance(model, PeftModel)


def attach_lora(model: Any, settings: TrainingSettings) -> Any:
    """Wrap ``model`` in a fresh LoRA adapter whose initial weights depend only on the seed.

    Only the adapter's weights are trainable. The base weights are not copied: peft wraps the
    chosen modules in place, and ``unload()`` puts the originals back.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    model_type = getattr(model.config, "model_type", "")
    config = LoraConfig(
        r=settings.lora_rank,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=list(settings.target_modules) if settings.target_modules else None,
        layers_to_transform=_layer_indices(model, settings.lora_layers),
        # GPT-2 stores its projections transposed (Conv1D); peft needs to be told.
        fan_in_fan_out=model_type == "gpt2",
        task_type="CAUSAL_LM",
    )
    with torch.random.fork_rng(devices=_cuda_devices(model)), warnings.catch_warnings():
        # transformers 5 deprecates an attribute that peft still reads; not ours to act on.
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing", category=FutureWarning
        )
        torch.manual_seed(settings.seed)
        try:
            return get_peft_model(model, config)
        except ValueError as error:
            raise ConfigError(
                f"cannot place LoRA adapters on this {model_type or 'model'} ({error}); "
                "name the modules with target_modules"
            ) from error


def frozen_lower_layers(model: Any, settings: TrainingSettings) -> int:
    """How many layers, from the bottom, a model fine-tuned with ``settings`` shares with the
    base model: those below the lowest adapted one with LoRA on chosen layers, else none."""
    if settings.method != "lora" or settings.lora_layers is None:
        return 0
    layers = _layer_indices(model, settings.lora_layers)
    return min(layers) if layers else 0


def _layer_indices(model: Any, layers: tuple[int, ...] | None) -> list[int] | None:
    """``layers`` as peft's non-negative indices, negative ones counted from the top layer."""
    if layers is None:
        return None
    count = layer_count(model)
    if count is None:
        raise ConfigError("lora_layers needs the model's number of layers, which its config lacks")
    outside = [layer for layer in layers if not -count <= layer < count]
    if outside:
        raise ConfigError(
            f"lora_layers {outside} outside this model's {count} layers "
            f"(use 0..{count - 1}, or -{count}..-1 from the top)"
        )
    return sorted(layer % count for layer in layers)


@contextmanager
def quiet_peft() -> Iterator[None]:
    """Silence the deprecation warning transformers 5 gives for an attribute peft still reads."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing", category=FutureWarning
        )
        yield


def _cuda_devices(model: Any) -> list[int]:
    devices = {p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"}
    return sorted(devices)


@contextmanager
def base_weights(loaded: LoadedModel, settings: TrainingSettings) -> Iterator[LoadedModel]:
    """Fine-tune inside; leave with exactly the base model again.

    With LoRA, ``loaded.model`` is wrapped in a fresh adapter (initialised from
    ``settings.seed``) for the duration, and unwrapped on exit; the base weights are never
    trained. With full fine-tuning, every weight is trainable inside and is restored bit for bit
    from a copy on exit (one extra copy of the weights in memory).

    Yields
    ------
    LoadedModel
        ``loaded`` itself, whose ``model`` is the one to fine-tune and score.
    """
    import torch

    base = loaded.model
    if has_adapter(base):
        raise ConfigError("base_weights needs the plain base model, but it already has an adapter")
    trainable = {name: p.requires_grad for name, p in base.named_parameters()}
    if settings.method == "lora":
        loaded.model = attach_lora(base, settings)
        try:
            yield loaded
        finally:
            loaded.model = loaded.model.unload()  # the original modules, without the adapter
            _restore(loaded.model, trainable)
        return
    saved = {name: tensor.detach().clone() for name, tensor in base.state_dict().items()}
    for parameter in base.parameters():
        parameter.requires_grad_(True)
    try:
        yield loaded
    finally:
        with torch.no_grad():
            for name, tensor in base.state_dict().items():
                tensor.copy_(saved[name])
        loaded.model = base
        _restore(base, trainable)


def _restore(model: Any, trainable: dict[str, bool]) -> None:
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(trainable.get(name, parameter.requires_grad))
    model.zero_grad(set_to_none=True)
    model.eval()
