"""Load a causal LM by bundled id, local path or Hugging Face hub id."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from forgetmap.errors import ConfigError, ModelNotFoundError
from forgetmap.lm._bundled import SMOLLM2_ID, quiet_transformers, smollm2_dir
from forgetmap.lm._loaded import LoadedModel

if TYPE_CHECKING:
    import torch

TINY_ID = "tiny-random"
BUNDLED_IDS = (SMOLLM2_ID, TINY_ID)
DTYPES = ("auto", "float32", "bfloat16", "float16")


def load_model(
    name: str = SMOLLM2_ID,
    *,
    dtype: str = "auto",
    device: str = "auto",
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load a causal language model and its tokenizer, ready to score and fine-tune.

    Parameters
    ----------
    name : str
        A bundled id (``"smollm2-135m-instruct"``, the default, or ``"tiny-random"``), a local
        directory saved with ``save_pretrained``, or a Hugging Face hub id.
    dtype : {"auto", "float32", "bfloat16", "float16"}
        ``"auto"``: bfloat16 on CUDA, float32 on CPU (CPU half precision is slow and inexact).
    device : str
        ``"auto"`` (CUDA when available, else CPU), or any torch device string.
    trust_remote_code : bool
        Allow a hub model to run its own Python code; off unless asked for.

    Returns
    -------
    LoadedModel
        The model in eval mode on ``device``, with a tokenizer that has a pad token.

    Raises
    ------
    ModelNotFoundError
        ``name`` is not bundled, not a local directory, and cannot be fetched from the hub.
    """

    target = _resolve_device(device)
    torch_dtype = _resolve_dtype(dtype, target)
    if name == TINY_ID:
        from forgetmap.lm._tiny import build_tiny_random

        model, tokenizer = build_tiny_random()
    else:
        source = smollm2_dir() if name == SMOLLM2_ID else _locate(name)
        model, tokenizer = _from_pretrained(source, torch_dtype, trust_remote_code)
    model = model.to(device=target, dtype=torch_dtype)
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model=model, tokenizer=tokenizer, device=target, name=name)


def _resolve_device(device: str) -> torch.device:
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise ConfigError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda[:N]'") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but CUDA is not available here")
    return resolved


def _resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    import torch

    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, dtype)


def _looks_like_path(name: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else with a slash is meant as a path.
    return (
        name.startswith((".", "/", "~"))
        or name.count("/") > 1
        or (os.sep != "/" and os.sep in name)
    )


def _locate(name: str) -> str:
    """A local directory, or a hub id once we know the hub (or its local cache) can serve it."""
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    if _looks_like_path(name) or path.exists():
        raise ModelNotFoundError(
            f"no local model directory at {name!r}: pass a directory saved with save_pretrained, "
            f"a hub id, or a bundled id ({', '.join(BUNDLED_IDS)})"
        )
    if _in_hub_cache(name) or hub_reachable():
        return name
    raise ModelNotFoundError(
        f"model {name!r} is not bundled ({', '.join(BUNDLED_IDS)}) and the Hugging Face hub is "
        "unreachable: download it on a connected machine and pass its local directory "
        "(model.save_pretrained(DIR); tokenizer.save_pretrained(DIR)) as the model name"
    )


def _in_hub_cache(name: str) -> bool:
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError):
        return False
    return True


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub answers at all; without this, an offline lookup retries for ~30 s."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _from_pretrained(source: Any, dtype: torch.dtype, trust_remote_code: bool) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
            model = AutoModelForCausalLM.from_pretrained(
                source, dtype=dtype, trust_remote_code=trust_remote_code
            )
    except OSError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise ModelNotFoundError(
            f"could not load model {str(source)!r} ({first_line}): pass a local directory saved "
            "with save_pretrained, a hub id, or a bundled id "
            f"({', '.join(BUNDLED_IDS)})"
        ) from error
    return model, tokenizer
