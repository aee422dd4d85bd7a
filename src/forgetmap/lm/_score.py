"""Score examples: mean negative log-likelihood per example over its scored tokens."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext

import numpy as np

from forgetmap.errors import ConfigError
from forgetmap.lm._batch import (
    ScoredPositions,
    length_sorted_batches,
    mean_scored_nll,
    pad_batch,
    pad_id,
)
from forgetmap.lm._encode import EncodedExample
from forgetmap.lm._loaded import LoadedModel
from forgetmap.lm._reuse import LowerLayers, batch_key


def score_nll(
    loaded: LoadedModel,
    encoded: Sequence[EncodedExample],
    *,
    batch_size: int = 16,
    max_batch_tokens: int | None = None,
    progress: Callable[[int], None] | None = None,
    reuse: LowerLayers | None = None,
) -> np.ndarray:
    """Mean token NLL of each example over its scored tokens (lower = better known).

    Examples are run in length-sorted batches (right padding, masked) under
    ``torch.inference_mode``; the result does not depend on how examples are batched, up to
    floating-point rounding. Each batch's losses stay on the device until one copy per batch.

    Parameters
    ----------
    loaded : LoadedModel
    encoded : sequence of EncodedExample, length N
    batch_size : int
        Examples per forward pass, when ``max_batch_tokens`` is not given.
    max_batch_tokens : int, optional
        Padded tokens per forward pass instead (rows × longest length), so that short examples
        fill the device as long ones do.
    progress : callable, optional
        Called after each batch with the number of examples scored so far.
    reuse : LowerLayers, optional
        Outputs of the model's lower layers kept from an earlier pass over the same examples
        in the same batches (and kept now where missing): only for a model whose lower
        layers are the base model's, e.g. LoRA on the upper layers only. Scores are unchanged.

    Returns
    -------
    ndarray of float64, shape (N,)
        In the order of ``encoded``; NaN for an example with no scored token.
    """
    import torch

    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    if max_batch_tokens is not None and max_batch_tokens < 1:
        raise ConfigError(f"max_batch_tokens must be at least 1, got {max_batch_tokens}")
    model = loaded.model
    was_training = model.training
    model.eval()
    scores = np.full(len(encoded), np.nan, dtype=np.float64)
    padding = pad_id(loaded.tokenizer)
    done = 0
    try:
        reusing = nullcontext(lambda key: None) if reuse is None else reuse.attached(model)
        with torch.inference_mode(), reusing as begin:
            lengths = [len(e) for e in encoded]
            for indices in length_sorted_batches(lengths, batch_size, max_tokens=max_batch_tokens):
                batch = [encoded[i] for i in indices]
                if any(e.n_scored for e in batch):
                    begin(batch_key(batch))
                    ids, mask, _ = pad_batch(batch, padding, loaded.device)
                    means = mean_scored_nll(model, ids, mask, ScoredPositions.of(batch))
                    scores[indices] = means.cpu().numpy()
                done += len(batch)
                if progress is not None:
                    progress(done)
    finally:
        model.train(was_training)
    return scores
