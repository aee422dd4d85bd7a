"""Reuse the base model's lower layers across scoring passes.

When LoRA adapts only the upper layers (``training.lora_layers``), every layer below the lowest
adapted one is the base model's in every fine-tuned model of a run, so for a given batch of
upstream examples its output is the same in the base model's pass and in every task's pass.
:class:`LowerLayers` keeps that output per batch from the first pass and hands it to the upper
layers in the later ones, so each task's scoring runs only the layers that changed (half the
work with the top half adapted).

The reused output is the one the same modules computed on the same inputs with the same threads,
so scores are bit-identical to computing it again (a test checks this). Use it only for models
whose layers below ``n_frozen`` are the base model's: never for full fine-tuning or an adapter
on every layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from forgetmap.lm._encode import EncodedExample
from forgetmap.lm._layers import decoder_layers

__all__ = ["LowerLayers", "batch_key"]

Begin = Callable[[bytes], None]


def batch_key(batch: Sequence[EncodedExample]) -> bytes:
    """What identifies a padded batch: its examples' token ids, in order."""
    parts = [np.asarray(example.input_ids, dtype=np.int64).tobytes() for example in batch]
    lengths = np.array([len(example) for example in batch], dtype=np.int64).tobytes()
    return lengths + b"".join(parts)


class LowerLayers:
    """The outputs of a model's first ``n_frozen`` layers, kept per batch.

    Parameters
    ----------
    n_frozen : int
        Layers (from the bottom) that are the base model's in every model scored with this.
    max_bytes : int
        Memory the kept outputs may take; batches beyond it are computed every time.
    """

    def __init__(self, n_frozen: int, max_bytes: int = 1 << 30) -> None:
        self.n_frozen = int(n_frozen)
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self.hits = 0
        self._outputs: dict[bytes, Any] = {}

    @contextmanager
    def attached(self, model: Any) -> Iterator[Begin]:
        """Route ``model``'s lower layers through the kept outputs while inside.

        Yields ``begin(key)``, to call with :func:`batch_key` before each forward pass. A model
        whose layers cannot be found, or with no more layers than ``n_frozen``, runs unchanged.
        """
        layers = decoder_layers(model)
        if layers is None or not 0 < self.n_frozen < len(layers):
            yield lambda key: None
            return
        state = _Pass()
        originals = [layers[i] for i in range(self.n_frozen)]
        for i, layer in enumerate(originals):
            layers[i] = _reused(layer, state, self, last=i == self.n_frozen - 1)
        try:
            yield state.begin(self)
        finally:
            for i, layer in enumerate(originals):
                layers[i] = layer

    def _keep(self, key: bytes, output: Any) -> None:
        size = sum(t.numel() * t.element_size() for t in _tensors(output))
        if self.nbytes + size <= self.max_bytes:
            self._outputs[key] = output
            self.nbytes += size


class _Pass:
    """Which batch is in flight, and its kept output if there is one."""

    key: bytes | None = None
    kept: Any = None

    def begin(self, owner: LowerLayers) -> Begin:
        def begin(key: bytes) -> None:
            self.key = key
            self.kept = owner._outputs.get(key)
            if self.kept is not None:
                owner.hits += 1

        return begin


_REUSED: list[type] = []


def _reused(layer: Any, state: _Pass, owner: LowerLayers, *, last: bool) -> Any:
    """A lower layer that returns the kept output of the lowest ``n_frozen`` layers when there
    is one (so all of them are skipped), and otherwise runs and, as the last of them, keeps it.
    (The class is made on first use, so importing this module does not import torch.)"""
    if not _REUSED:
        import torch

        class Reused(torch.nn.Module):
            def __init__(self, layer: Any, state: _Pass, owner: LowerLayers, last: bool) -> None:
                super().__init__()
                self.layer = layer
                self._state = state
                self._owner = owner
                self._last = last

            def forward(self, *args: Any, **kwargs: Any) -> Any:
                if self._state.kept is not None:
                    return self._state.kept
                output = self.layer(*args, **kwargs)
                if self._last and self._state.key is not None:
                    self._owner._keep(self._state.key, output)
                return output

        _REUSED.append(Reused)
    return _REUSED[0](layer, state, owner, last)


def _tensors(output: Any) -> list[Any]:
    import torch

    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in _tensors(item)]
    return []
