"""Save a fine-tuned model, and load one back on top of its base model."""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from forgetmap.errors import ConfigError, InputFileNotFoundError, ModelNotFoundError
from forgetmap.lm._adapter import _restore, has_adapter, quiet_peft
from forgetmap.lm._checkpoint_files import ADAPTER_CONFIG, MODEL_CONFIG, is_checkpoint_dir
from forgetmap.lm._loaded import LoadedModel


def save_checkpoint(loaded: LoadedModel, path: str | os.PathLike[str]) -> Path:
    """Save the fine-tuned state: the LoRA adapter alone, or the full model and tokenizer.

    Written to a temporary directory beside ``path`` and renamed into place, so a reader never
    sees half a checkpoint. An existing ``path`` is replaced.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        loaded.model.save_pretrained(temp)
        if not has_adapter(loaded.model):
            loaded.tokenizer.save_pretrained(temp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(temp, target)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return target


def load_checkpoint(loaded: LoadedModel, path: str | os.PathLike[str]) -> LoadedModel:
    """The base model with a fine-tuned checkpoint applied, as a new LoadedModel.

    Parameters
    ----------
    loaded : LoadedModel
        The base model; it is not modified (a LoRA adapter is merged into a copy).
    path : path
        A LoRA adapter directory (``adapter_config.json``, as peft saves it) or a full checkpoint
        directory (``config.json``, as ``save_pretrained`` writes it).

    Returns
    -------
    LoadedModel
        Named ``"<base name>+<path>"``, in eval mode on the base model's device.
    """
    directory = _checkpoint_dir(path)
    name = f"{loaded.name}+{directory}"
    tokenizer = loaded.tokenizer
    if (directory / ADAPTER_CONFIG).is_file():
        model = _with_adapter(copy.deepcopy(loaded.model), directory).merge_and_unload()
    else:
        model = _full_model(directory, like=loaded.model)
        if (directory / "tokenizer_config.json").is_file():
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(directory)
    model = model.to(loaded.device)
    model.eval()
    return LoadedModel(model=model, tokenizer=tokenizer, device=loaded.device, name=name)


@contextmanager
def applied_checkpoint(loaded: LoadedModel, path: str | os.PathLike[str]) -> Iterator[str]:
    """Inside, ``loaded.model`` is the fine-tuned checkpoint; on exit the base model is back.

    A LoRA adapter is attached to the base model's modules unmerged, as it was while it
    trained, so the scores of a checkpoint saved by ``forgetmap finetune`` are bit for bit those
    collect computed right after training it (merging ``B @ A`` into the weights would round
    differently). A full checkpoint replaces the model for the duration. The tokenizer stays the
    base model's: what is scored was encoded with it. Yields the kind, ``"lora"`` or ``"full"``.
    """
    directory = _checkpoint_dir(path)
    base = loaded.model
    if has_adapter(base):
        raise ConfigError("applied_checkpoint needs the plain base model, but it has an adapter")
    if (directory / ADAPTER_CONFIG).is_file():
        trainable = {name: p.requires_grad for name, p in base.named_parameters()}
        loaded.model = _with_adapter(base, directory)
        try:
            yield "lora"
        finally:
            loaded.model = loaded.model.unload()  # the original modules, without the adapter
            _restore(loaded.model, trainable)
        return
    loaded.model = _full_model(directory, like=base).to(loaded.device).eval()
    try:
        yield "full"
    finally:
        loaded.model = base


# ---------------------------------------------------------------------- helpers
def _checkpoint_dir(path: str | os.PathLike[str]) -> Path:
    directory = Path(path)
    if not directory.is_dir():
        raise InputFileNotFoundError(f"no checkpoint directory at {str(path)!r}")
    if not is_checkpoint_dir(directory):
        raise ModelNotFoundError(
            f"{str(path)!r} is not a checkpoint: expected a LoRA adapter ({ADAPTER_CONFIG}) or a "
            f"full model ({MODEL_CONFIG}) saved with save_pretrained"
        )
    return directory


def _with_adapter(model: Any, directory: Path) -> Any:
    """``model`` wrapped in place by the saved LoRA adapter (eval mode, nothing trainable)."""
    from peft import PeftModel

    with quiet_peft():
        return PeftModel.from_pretrained(model, directory)


def _full_model(directory: Path, *, like: Any) -> Any:
    """A full checkpoint in the dtype of the base model ``like`` (its code is never run)."""
    from transformers import AutoModelForCausalLM

    dtype = next(like.parameters()).dtype
    return AutoModelForCausalLM.from_pretrained(directory, dtype=dtype)
