"""A fine-tuned checkpoint's files, read without loading a weight: where they are, what they
hash to, and whether they were fine-tuned from a given base model.

A checkpoint is a LoRA adapter directory (``adapter_config.json``, as peft saves it) or a full
model directory (``config.json``), given as a local path or as a Hugging Face hub id (from the
local hub cache, or downloaded when the hub is reachable). ``forgetmap forecast`` and
``forgetmap collect`` (tasks given as checkpoints) both find and check checkpoints here, so
both accept and refuse the same ones.

Matching is checked on what the files say, before any weight is merged: an adapter must fit the
base model's modules (every adapted module exists, with the adapter's input and output sizes) and
must not name another hub model as its base; a full checkpoint must have the base model's
architecture (model type, vocabulary, width, depth, heads).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from forgetmap.errors import CheckpointMismatchError, InputFileNotFoundError
from forgetmap.lm._layers import LAYER_COUNT_FIELDS
from forgetmap.lm._load import _looks_like_path, hub_reachable

__all__ = [
    "ADAPTER_CONFIG",
    "MODEL_CONFIG",
    "RECORD",
    "check_checkpoint",
    "checkpoint_digest",
    "is_checkpoint_dir",
    "resolve_checkpoint",
]

ADAPTER_CONFIG = "adapter_config.json"
MODEL_CONFIG = "config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")

# Bundled model ids and the hub ids of the same weights, so an adapter trained on either matches.
ALIASES = {"smollm2-135m-instruct": "huggingfacetb/smollm2-135m-instruct"}

# (names in the config, meaning): the first present name of each is compared.
ARCHITECTURE = (
    (("model_type",), "model type"),
    (("vocab_size",), "vocabulary size"),
    (("hidden_size", "n_embd", "d_model"), "hidden size"),
    (LAYER_COUNT_FIELDS, "number of layers"),
    (("num_attention_heads", "n_head"), "number of attention heads"),
    (("intermediate_size", "n_inner"), "MLP size"),
)


RECORD = "forgetmap-finetune.json"
"""What ``forgetmap finetune`` writes beside a checkpoint: how it was made. Not part of the
checkpoint's digest (its timings differ between two runs that write identical weights)."""


def is_checkpoint_dir(path: Path) -> bool:
    """Whether ``path`` is a directory holding a LoRA adapter or a full model."""
    return (path / ADAPTER_CONFIG).is_file() or (path / MODEL_CONFIG).is_file()


def resolve_checkpoint(
    checkpoint: str | os.PathLike[str], base_dir: str | os.PathLike[str] | None = None
) -> Path:
    """The local directory of a checkpoint given as a path or a hub id.

    Parameters
    ----------
    checkpoint : path-like or str
        A directory, or a hub id (``org/name``) cached locally or reachable.
    base_dir : path-like, optional
        Folder that a relative path resolves against (a config file's folder); default: the
        working directory.

    Raises
    ------
    InputFileNotFoundError
        Not a local checkpoint directory, and not a hub id that can be had offline or online.
    """
    text = str(checkpoint)
    path = Path(text).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    if path.is_dir():
        if not is_checkpoint_dir(path):
            raise InputFileNotFoundError(
                f"{text!r} is not a checkpoint: expected a LoRA adapter ({ADAPTER_CONFIG}) or a "
                f"full model ({MODEL_CONFIG}) saved with save_pretrained"
            )
        return path
    missing = InputFileNotFoundError(
        f"no checkpoint at {text!r}: pass a directory saved with save_pretrained (LoRA adapter "
        "or full model) or a hub id that is cached locally or reachable"
    )
    if path.exists() or _looks_like_path(text):
        raise missing
    local = _hub_snapshot(text, local_files_only=True)
    if local is None and hub_reachable():
        local = _hub_snapshot(text, local_files_only=False)
    if local is None:
        raise missing
    return local


def checkpoint_digest(directory: Path) -> str:
    """SHA-256 over the names and bytes of a checkpoint's top-level files.

    What ``from_pretrained`` reads lies at the top level; subfolders (a trainer's intermediate
    ``checkpoint-500/``, optimizer states) are not part of the checkpoint and are left out, and
    so is forgetmap's own record (:data:`RECORD`). Hub snapshots are symlinks into the
    cache: their targets' bytes are read.
    """
    digest = hashlib.sha256()
    for file in sorted(directory.iterdir(), key=lambda item: item.name):
        if file.name == RECORD or file.name.startswith(".") or not file.is_file():
            continue
        digest.update(file.name.encode() + b"\0")
        with open(file, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def check_checkpoint(directory: Path, base: Any, base_id: str) -> str:
    """Refuse a checkpoint that was not fine-tuned from ``base``; return its kind.

    Parameters
    ----------
    directory : Path
        A checkpoint directory (see :func:`resolve_checkpoint`).
    base : transformers.PreTrainedModel
        The base model (a store's, or a run's), without an adapter.
    base_id : str
        The name its config gives the base model.

    Returns
    -------
    str
        ``"lora"`` or ``"full"``.

    Raises
    ------
    CheckpointMismatchError
        The checkpoint belongs to another model, saying which property differs.
    """
    if (directory / ADAPTER_CONFIG).is_file():
        _check_adapter(directory, base, base_id)
        return "lora"
    _check_full(directory, base, base_id)
    return "full"


# ---------------------------------------------------------------------- adapters
def _check_adapter(directory: Path, base: Any, base_id: str) -> None:
    config = _read_json(directory / ADAPTER_CONFIG)
    named = config.get("base_model_name_or_path")
    if isinstance(named, str) and named and not _same_name(named, base_id, base):
        raise CheckpointMismatchError(
            f"checkpoint {str(directory)!r} is a LoRA adapter for {named!r}, but the base "
            f"model is {base_id!r}"
        )
    shapes = _adapter_shapes(directory)
    modules = dict(base.named_modules())
    for key, shape in sorted(shapes.items()):
        if ".lora_A." not in key and ".lora_B." not in key:
            continue
        prefix = key.split(".lora_A." if ".lora_A." in key else ".lora_B.", 1)[0]
        name = _strip_peft_prefix(prefix)
        module = modules.get(name)
        if module is None:
            raise CheckpointMismatchError(
                f"checkpoint {str(directory)!r} adapts a module {name!r} that the base model "
                f"{base_id!r} does not have: it was fine-tuned from another model"
            )
        size_in, size_out = _module_sizes(module, fan_in_fan_out=bool(config.get("fan_in_fan_out")))
        expected = size_in if ".lora_A." in key else size_out
        actual = shape[1] if ".lora_A." in key else shape[0]
        if size_in is not None and actual != expected:
            raise CheckpointMismatchError(
                f"checkpoint {str(directory)!r} adapts {name!r} with size {actual}, but in the "
                f"base model {base_id!r} it has size {expected}: it was fine-tuned from another "
                "model"
            )


def _adapter_shapes(directory: Path) -> dict[str, tuple[int, ...]]:
    weights = directory / ADAPTER_WEIGHTS[0]
    if not weights.is_file():
        raise InputFileNotFoundError(
            f"LoRA checkpoint {str(directory)!r} has no {ADAPTER_WEIGHTS[0]} (pickled .bin "
            "weights are not read)"
        )
    from safetensors import safe_open

    shapes = {}
    with safe_open(str(weights), framework="np") as handle:
        names = handle.keys()
        for key in names:
            shapes[key] = tuple(handle.get_slice(key).get_shape())
    return shapes


def _strip_peft_prefix(name: str) -> str:
    # peft saves keys as "base_model.model.<module path>.lora_A.weight".
    return name.removeprefix("base_model.model.")


def _module_sizes(module: Any, *, fan_in_fan_out: bool) -> tuple[int | None, int | None]:
    """(input size, output size) of a Linear, Conv1D (GPT-2) or Embedding module."""
    weight = getattr(module, "weight", None)
    if weight is None or weight.ndim != 2:
        return None, None
    rows, cols = int(weight.shape[0]), int(weight.shape[1])
    kind = type(module).__name__
    if kind == "Embedding":
        return rows, cols
    if kind == "Conv1D" or fan_in_fan_out:
        return rows, cols  # stored transposed: (in, out)
    return cols, rows  # nn.Linear: (out, in)


def _same_name(named: str, base_id: str, base: Any) -> bool:
    """Whether an adapter's recorded base name can be the base model.

    Local paths differ between machines, so only hub ids (``org/name``) are compared; a path is
    left to the structural check.
    """
    if _looks_like_path(named) or named.count("/") != 1:
        return True
    known = {base_id.lower(), ALIASES.get(base_id.lower(), base_id.lower())}
    own = str(getattr(base.config, "name_or_path", "") or "")
    if own:
        known.add(own.lower())
    return named.lower() in known or any(Path(k).name == Path(named.lower()).name for k in known)


# ---------------------------------------------------------------------- full checkpoints
def _check_full(directory: Path, base: Any, base_id: str) -> None:
    config = _read_json(directory / MODEL_CONFIG)
    ours = base.config.to_dict()
    for names, meaning in ARCHITECTURE:
        theirs_value = next((config[n] for n in names if n in config), None)
        ours_value = next((ours[n] for n in names if n in ours), None)
        if theirs_value is not None and ours_value is not None and theirs_value != ours_value:
            raise CheckpointMismatchError(
                f"checkpoint {str(directory)!r} has {meaning} {theirs_value!r}, the base model "
                f"{base_id!r} has {ours_value!r}: it was fine-tuned from another model"
            )


# ---------------------------------------------------------------------- helpers
def _read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputFileNotFoundError(f"cannot read {str(path)!r}: {error}") from None
    if not isinstance(document, dict):
        raise InputFileNotFoundError(f"{str(path)!r} does not hold a JSON object")
    return document


def _hub_snapshot(repo_id: str, *, local_files_only: bool) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        local = snapshot_download(repo_id, local_files_only=local_files_only)
    except Exception:
        return None
    path = Path(local)
    return path if is_checkpoint_dir(path) else None
