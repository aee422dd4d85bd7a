"""The loaded model: a causal LM, its tokenizer and where it runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@dataclass
class LoadedModel:
    """A causal language model ready to score and fine-tune.

    Attributes
    ----------
    model : transformers.PreTrainedModel
        The model, in eval mode, on ``device``. Inside :func:`base_weights` with LoRA it is the
        adapter-wrapped model; it is the plain model again on exit.
    tokenizer : transformers.PreTrainedTokenizerBase
        Its tokenizer, with a chat template when the model is a chat model.
    device : torch.device
        Where the model's weights live; inputs are moved there.
    name : str
        The name it was loaded by (a bundled id, a local path or a hub id).
    """

    model: Any
    tokenizer: Any
    device: torch.device
    name: str

    def __repr__(self) -> str:
        dtype = getattr(self.model, "dtype", None)
        return f"LoadedModel(name={self.name!r}, device={self.device}, dtype={dtype})"
