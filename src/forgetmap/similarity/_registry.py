"""The registry of similarity kinds: each maps the texts of tasks and examples to a matrix.

A kind is a function ``compute(inputs, *, batch_size) -> ndarray (n_tasks, n_examples)``
registered under a name; ``forgetmap similarity --kinds NAME,...`` runs the named ones and
saves each as the store artifact ``similarity_<NAME>``. Kinds that need more than texts (the
gradient similarity needs the fine-tuned model's loss gradients) register themselves the same
way from the module that can compute them, with :func:`register_kind`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from forgetmap.errors import SimilarityError
from forgetmap.store import ForgettingStore


@dataclass(frozen=True)
class SimilarityInputs:
    """What a similarity kind may use.

    Attributes
    ----------
    store : ForgettingStore
        The run (kinds needing more than texts read its config or artifacts).
    task_texts : list of list of str, length n_tasks
        The training texts of each task, in row order (empty for a task without texts).
    example_texts : list of str or None, length n_examples
        The display text of each upstream example, in column order (None if unknown).
    """

    store: ForgettingStore
    task_texts: list[list[str]]
    example_texts: list[str | None]


Compute = Callable[..., np.ndarray]


@dataclass(frozen=True)
class SimilarityKind:
    """A registered kind: its name, one-line description and computing function."""

    name: str
    description: str
    compute: Compute


_KINDS: dict[str, SimilarityKind] = {}


def register_kind(name: str, description: str, compute: Compute) -> None:
    """Register (or replace) the similarity kind ``name``."""
    if not name.isidentifier():
        raise ValueError(f"similarity kind name {name!r} must be an identifier")
    _KINDS[name] = SimilarityKind(name, description, compute)


def kinds() -> dict[str, SimilarityKind]:
    """The registered kinds, by name."""
    return dict(_KINDS)


def get_kind(name: str) -> SimilarityKind:
    """The kind ``name``; an unknown name is a :class:`~forgetmap.errors.SimilarityError`."""
    try:
        return _KINDS[name]
    except KeyError:
        raise SimilarityError(
            f"unknown similarity kind {name!r}; available: {', '.join(sorted(_KINDS))}"
        ) from None
