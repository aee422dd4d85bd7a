"""Save a fine-tuned model, and load one back on top of its base model."""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path

from forgetmap.errors import InputFileNotFoundError, ModelNotFoundError
from forgetmap.lm._adapter import has_adapter, quiet_peft
from forgetmap.lm._loaded import LoadedModel

ADAPTER_CONFIG = "adapter_config.json"
MODEL_CONFIG = "config.json"


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
    from transformers import AutoModelForCausalLM

    directory = Path(path)
    if not directory.is_dir():
        raise InputFileNotFoundError(f"no checkpoint directory at {str(path)!r}")
    name = f"{loaded.name}+{directory}"
    if (directory / ADAPTER_CONFIG).is_file():
        from peft import PeftModel

        base = copy.deepcopy(loaded.model)
        with quiet_peft():
            model = PeftModel.from_pretrained(base, directory).merge_and_unload()
        tokenizer = loaded.tokenizer
    elif (directory / MODEL_CONFIG).is_file():
        dtype = next(loaded.model.parameters()).dtype
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=dtype)
        tokenizer = loaded.tokenizer
        if (directory / "tokenizer_config.json").is_file():
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(directory)
    else:
        raise ModelNotFoundError(
            f"{str(path)!r} is not a checkpoint: expected a LoRA adapter ({ADAPTER_CONFIG}) or a "
            f"full model ({MODEL_CONFIG}) saved with save_pretrained"
        )
    model = model.to(loaded.device)
    model.eval()
    return LoadedModel(model=model, tokenizer=tokenizer, device=loaded.device, name=name)
