"""Pack encoded examples into padded tensors, and plan length-sorted batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from forgetmap.lm._encode import EncodedExample

if TYPE_CHECKING:
    import torch


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices grouped into batches of similar length, longest first.

    Sorting by length keeps padding minimal; the longest batch comes first so that running out
    of memory happens at once rather than at the end. The sort is stable, so the plan is
    deterministic.

    Returns
    -------
    list of ndarray of int
        Each holds at most ``batch_size`` indices into ``lengths``.
    """
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def pad_batch(
    batch: Sequence[EncodedExample], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Right-pad a batch.

    Returns
    -------
    input_ids : LongTensor of shape (B, T)
    attention_mask : LongTensor of shape (B, T), or None when no row is padded
    scored : BoolTensor of shape (B, T)
        False on padding.
    """
    import torch

    width = max(len(example) for example in batch)
    ids = np.full((len(batch), width), pad_id, dtype=np.int64)  # (B, T)
    mask = np.zeros((len(batch), width), dtype=np.int64)  # (B, T)
    scored = np.zeros((len(batch), width), dtype=bool)  # (B, T)
    for row, example in enumerate(batch):
        ids[row, : len(example)] = example.input_ids
        mask[row, : len(example)] = 1
        scored[row, : len(example)] = example.scored
    attention = None if mask.all() else torch.from_numpy(mask).to(device)
    return torch.from_numpy(ids).to(device), attention, torch.from_numpy(scored).to(device)


def pad_id(tokenizer: Any) -> int:
    """The id used for padding (its value never matters: padding is masked and not scored)."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


def token_nll(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, scored: torch.Tensor
) -> torch.Tensor:
    """Negative log-likelihood of every scored token, in row-major order.

    Only the positions that predict a scored token go through the output layer (when the model
    supports ``logits_to_keep``), which for a 49k-token vocabulary is a large part of the work.

    Parameters
    ----------
    input_ids : LongTensor of shape (B, T)
    attention_mask : LongTensor of shape (B, T) or None
    scored : BoolTensor of shape (B, T)

    Returns
    -------
    Tensor of float32, shape (n_scored,)
    """
    import torch
    import torch.nn.functional as F

    predicting = torch.zeros_like(scored)  # (B, T): position t predicts token t + 1
    predicting[:, :-1] = scored[:, 1:]
    kwargs: dict[str, Any] = {"use_cache": False}
    if attention_mask is not None:
        kwargs["attention_mask"] = attention_mask
    if _accepts_logits_to_keep(model):
        kwargs["logits_to_keep"] = predicting
    logits = model(input_ids=input_ids, **kwargs).logits
    if logits.ndim == 3:  # (B, T, V): the model computed every position
        logits = logits[predicting]
    targets = input_ids[scored]  # (n_scored,)
    return F.cross_entropy(logits.float(), targets, reduction="none")  # (n_scored,)


def _accepts_logits_to_keep(model: Any) -> bool:
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    cached = getattr(base, "_forgetmap_logits_to_keep", None)
    if cached is None:
        try:
            cached = "logits_to_keep" in inspect.signature(base.forward).parameters
        except (TypeError, ValueError):
            cached = False
        # A boolean mask (rather than an int) needs transformers >= 5; older versions would
        # misread it, so check the helper that implements it exists.
        from transformers import modeling_utils

        cached = cached and hasattr(modeling_utils, "slice_logits_to_keep")
        base._forgetmap_logits_to_keep = cached
    return bool(cached)
