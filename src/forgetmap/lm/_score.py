"""Score examples: mean negative log-likelihood per example over its scored tokens."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext

import numpy as np

from forgetmap.errors import ConfigError
from forgetmap.lm._batch import length_sorted_batches, pad_batch, pad_id, token_nll
from forgetmap.lm._encode import EncodedExample
from forgetmap.lm._loaded import LoadedModel
from forgetmap.lm._reuse import LowerLayers, batch_key


def score_nll(
    loaded: LoadedModel,
    encoded: Sequence[EncodedExample],
    *,
    batch_size: int = 16,
    progress: Callable[[int], None] | None = None,
    reuse: LowerLayers | None = None,
) -> np.ndarray:
    """Mean token NLL of each example over its scored tokens (lower = better known).

    Examples are run in length-sorted batches (right padding, masked) under
    ``torch.inference_mode``; the result does not depend on how examples are batched, up to
    floating-point rounding.

    Parameters
    ----------
    loaded : LoadedModel
    encoded : sequence of EncodedExample, length N
    batch_size : int
        Examples per forward pass.
    progress : callable, optional
        Called after each batch with the number of examples scored so far.
    reuse : LowerLayers, optional
        Outputs of the model's lower layers kept from an earlier pass over the same examples
        with the same ``batch_size`` (and kept now where missing): only for a model whose lower
        layers are the base model's, e.g. LoRA on the upper layers only. Scores are unchanged.

    Returns
    -------
    ndarray of float64, shape (N,)
        In the order of ``encoded``; NaN for an example with no scored token.
    """
    import torch

    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    model = loaded.model
    was_training = model.training
    model.eval()
    scores = np.full(len(encoded), np.nan, dtype=np.float64)
    padding = pad_id(loaded.tokenizer)
    done = 0
    try:
        reusing = nullcontext(lambda key: None) if reuse is None else reuse.attached(model)
        with torch.inference_mode(), reusing as begin:
            for indices in length_sorted_batches([len(e) for e in encoded], batch_size):
                batch = [encoded[i] for i in indices]
                counts = np.array([e.n_scored for e in batch])
                if counts.sum() > 0:
                    begin(batch_key(batch))
                    ids, mask, scored = pad_batch(batch, padding, loaded.device)
                    nll = token_nll(model, ids, mask, scored).double().cpu().numpy()
                    # nll is row-major over scored tokens: sum it back per example.
                    rows = np.repeat(np.arange(len(batch)), counts)
                    sums = np.bincount(rows, weights=nll, minlength=len(batch))
                    scores[indices] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
                done += len(batch)
                if progress is not None:
                    progress(done)
    finally:
        model.train(was_training)
    return scores
