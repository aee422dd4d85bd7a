"""Pack encoded examples into padded tensors, and plan length-sorted batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from forgetmap.lm._encode import EncodedExample

if TYPE_CHECKING:
    import torch


def length_sorted_batches(
    lengths: Sequence[int], batch_size: int = 16, *, max_tokens: int | None = None
) -> list[np.ndarray]:
    """Indices grouped into batches of similar length, longest first.

    Sorting by length keeps padding minimal; the longest batch comes first so that running out
    of memory happens at once rather than at the end. The sort is stable, so the plan is
    deterministic.

    Parameters
    ----------
    lengths : sequence of int
    batch_size : int
        Examples per batch, when ``max_tokens`` is not given.
    max_tokens : int, optional
        A budget of padded tokens per batch (rows × the batch's longest length) in place of a
        fixed count, so that batches of short examples hold more rows and the device is as
        full for them as for long ones. An example longer than the budget is a batch of its own.

    Returns
    -------
    list of ndarray of int
        Each holds at most ``batch_size`` indices into ``lengths``, or at most ``max_tokens``
        padded tokens (or a single example).
    """
    sizes = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-sizes, kind="stable")
    if max_tokens is None:
        return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        width = max(int(sizes[order[start]]), 1)  # the longest of the batch: it comes first
        rows = max(max_tokens // width, 1)
        batches.append(order[start : start + rows])
        start += rows
    return batches


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


@dataclass(frozen=True)
class ScoredPositions:
    """Where each row of a padded batch is scored, laid out as a (B, P) grid on the host.

    P is the most scored tokens of any row; shorter rows are padded with position 0 and weight
    0. Giving the model integer positions rather than a boolean mask keeps the output layer to
    the scored positions without a data-dependent shape, so on a GPU nothing waits for the
    device until the batch's losses are copied back.

    Attributes
    ----------
    positions : ndarray of int64, shape (B, P)
        Position ``t`` whose logits predict the scored token ``t + 1``.
    targets : ndarray of int64, shape (B, P)
        The scored tokens.
    weights : ndarray of bool, shape (B, P)
        False on padding.
    """

    positions: np.ndarray
    targets: np.ndarray
    weights: np.ndarray

    @classmethod
    def of(cls, batch: Sequence[EncodedExample]) -> ScoredPositions:
        width = max(max(example.n_scored for example in batch), 1)
        positions = np.zeros((len(batch), width), dtype=np.int64)  # (B, P)
        targets = np.zeros((len(batch), width), dtype=np.int64)  # (B, P)
        weights = np.zeros((len(batch), width), dtype=bool)  # (B, P)
        for row, example in enumerate(batch):
            tokens = np.flatnonzero(example.scored)  # scored tokens; never 0
            positions[row, : len(tokens)] = tokens - 1
            targets[row, : len(tokens)] = example.input_ids[tokens]
            weights[row, : len(tokens)] = True
        return cls(positions, targets, weights)


def mean_scored_nll(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scored: ScoredPositions,
) -> torch.Tensor:
    """Mean NLL of each row's scored tokens, left on the model's device (no host sync).

    Parameters
    ----------
    input_ids : LongTensor of shape (B, T)
    attention_mask : LongTensor of shape (B, T) or None
    scored : ScoredPositions of the same batch

    Returns
    -------
    Tensor of float64, shape (B,)
        NaN for a row with no scored token.
    """
    import torch
    import torch.nn.functional as F

    device = input_ids.device
    positions = torch.from_numpy(scored.positions).to(device)  # (B, P)
    targets = torch.from_numpy(scored.targets).to(device)  # (B, P)
    weights = torch.from_numpy(scored.weights).to(device)  # (B, P)
    logits, kept = _forward(model, input_ids, attention_mask, keep=positions)
    if not kept:  # (B, T, V): the model computed every position
        logits = torch.take_along_dim(logits, positions[..., None], dim=1)  # (B, P, V)
    nll = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")
    nll = torch.where(weights, nll.view_as(targets), 0.0).double()  # (B, P)
    return nll.sum(dim=1) / weights.sum(dim=1)  # (B,): 0/0 = NaN where nothing is scored


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
    logits, _ = _forward(model, input_ids, attention_mask, keep=predicting)
    if logits.ndim == 3:  # (B, T, V): the model computed every position
        logits = logits[predicting]
    targets = input_ids[scored]  # (n_scored,)
    return F.cross_entropy(logits.float(), targets, reduction="none")  # (n_scored,)


def _forward(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, *, keep: Any
) -> tuple[torch.Tensor, bool]:
    """The model's logits, of the ``keep`` positions only where the model supports it.

    Returns the logits and whether they were restricted to ``keep`` (else every position).
    """
    kwargs: dict[str, Any] = {"use_cache": False}
    if attention_mask is not None:
        kwargs["attention_mask"] = attention_mask
    kept = _accepts_logits_to_keep(model)
    if kept:
        kwargs["logits_to_keep"] = keep
    return model(input_ids=input_ids, **kwargs).logits, kept


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
