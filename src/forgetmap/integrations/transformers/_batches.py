"""Add replay rows to a batch that the trainer's own data collator made.

The user's collator pads the task examples as it always does; the replay examples, already
tokenised by forgetmap, become extra rows of the same tensors: ``input_ids``, ``attention_mask``,
``labels`` (-100 except on the tokens forgetmap scores and trains on, so a chat replays its
response only) and, when the batch has them, ``position_ids`` and ``token_type_ids``. Rows are
padded on the side the batch is padded on. Packed (padding-free) batches are refused: their
rows are not examples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from forgetmap.errors import ConfigError

__all__ = ["append_replay"]

IGNORE = -100
# Keys a padded causal-LM batch may have, and their padding value.
PAD_VALUES = {"attention_mask": 0, "labels": IGNORE, "position_ids": 0, "token_type_ids": 0}


def append_replay(batch: Mapping[str, Any], replay: Sequence[Any], pad_id: int) -> dict[str, Any]:
    """``batch`` with one more row per replay example.

    Parameters
    ----------
    batch : mapping of str to Tensor of shape (B, T)
        A collated batch with ``input_ids`` and ``labels``.
    replay : sequence of EncodedExample, length R
    pad_id : int
        Padding token id.

    Returns
    -------
    dict of str to Tensor of shape (B + R, max(T, longest replay example))
    """
    import torch

    unknown = sorted(set(batch) - {"input_ids", *PAD_VALUES})
    if "input_ids" not in batch or "labels" not in batch or unknown:
        raise ConfigError(
            "forgetmap replay adds rows to padded causal-LM batches (input_ids, labels, "
            f"attention_mask); this batch has {sorted(batch)}: packed or padding-free batches "
            "cannot take replay rows — turn packing off"
        )
    if not replay:
        return dict(batch)
    ids = batch["input_ids"]  # (B, T)
    left = _left_padded(batch)
    width = max(int(ids.shape[1]), *(len(example) for example in replay))
    rows: dict[str, list[Any]] = {key: [] for key in batch}
    for example in replay:
        tokens = torch.as_tensor(example.input_ids, dtype=ids.dtype)  # (L,)
        scored = torch.as_tensor(example.scored, dtype=torch.bool)  # (L,)
        fields = {
            "input_ids": tokens,
            "labels": torch.where(scored, tokens, torch.full_like(tokens, IGNORE)),
            "attention_mask": torch.ones_like(tokens),
            "position_ids": torch.arange(len(tokens), dtype=ids.dtype),
            "token_type_ids": torch.zeros_like(tokens),
        }
        for key in batch:
            value = PAD_VALUES.get(key, pad_id)
            rows[key].append(_pad(fields[key], width, value, left))
    merged = {}
    for key, tensor in batch.items():
        value = PAD_VALUES.get(key, pad_id)
        widened = _pad(tensor, width, value, left)  # (B, W)
        extra = torch.stack(rows[key]).to(device=tensor.device, dtype=tensor.dtype)  # (R, W)
        merged[key] = torch.cat([widened, extra])  # (B + R, W)
    return merged


def _left_padded(batch: Mapping[str, Any]) -> bool:
    mask = batch.get("attention_mask")
    return mask is not None and bool((mask[:, 0] == 0).any())


def _pad(tensor: Any, width: int, value: int, left: bool) -> Any:
    import torch.nn.functional as F

    missing = width - int(tensor.shape[-1])
    if missing <= 0:
        return tensor
    return F.pad(tensor, (missing, 0) if left else (0, missing), value=value)
