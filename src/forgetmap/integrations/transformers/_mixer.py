"""Which upstream examples go into each batch, decided one batch at a time.

A trainer's data loader hands batches over one by one, so the replay stream's placement
(:func:`forgetmap.replay.replay_count`: after ``c`` task examples, ``floor(ratio * c)`` replay
examples) is applied as the batches come. Which examples fill those places is a sequence drawn
in advance by a replay sampler (:func:`forgetmap.replay.draw_replay`): first at random, then,
after :meth:`ReplayMixer.switch`, the rest by predicted forgetting. numpy only.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from forgetmap.replay._samplers import draw_replay
from forgetmap.replay._stream import as_fraction, replay_count

__all__ = ["ReplayMixer"]


class ReplayMixer:
    """The replay examples of a stream seen one batch at a time.

    Parameters
    ----------
    pool_size : int
        Upstream examples that can be replayed (positions ``0 .. pool_size - 1``).
    ratio : float, Fraction or str
        Replay examples per task example, in (0, 1).
    capacity : int
        Replay examples to draw in advance: at least what the run will place (more is harmless;
        when a run places more, the current sampler draws again).
    seed : int, sequence of int or Generator
        Seeds every draw.
    """

    def __init__(
        self,
        pool_size: int,
        ratio: float | Fraction | str,
        *,
        capacity: int,
        seed: int | list[int] | np.random.Generator = 0,
    ) -> None:
        self.pool_size = int(pool_size)
        self.fraction = as_fraction(ratio)
        self.capacity = int(capacity)
        self.rng = np.random.default_rng(seed)
        self.sampler = "random"
        self.scores: np.ndarray | None = None
        self.temperature = 1.0
        self.task_examples = 0
        self.batches: list[np.ndarray] = []  # replay positions of each batch
        self.task_counts: list[int] = []  # task examples of each batch
        self.switched_at: int | None = None
        self.chosen = draw_replay("random", self.pool_size, self.capacity, seed=self.rng)

    @property
    def placed(self) -> int:
        """Replay examples handed out so far."""
        return sum(int(batch.size) for batch in self.batches)

    def take(self, n_task: int) -> np.ndarray:
        """Pool positions of the replay examples for the next batch of ``n_task`` task examples.

        Returns
        -------
        ndarray of int64, shape (floor(r * c_t) - floor(r * c_{t-1}),)
        """
        start = self.placed
        self.task_examples += int(n_task)
        due = replay_count(self.task_examples, self.fraction)
        if due > self.chosen.size:
            more = max(due - self.chosen.size, self.capacity)
            self.chosen = np.concatenate([self.chosen, self._draw(more)])
        batch = self.chosen[start:due].copy()
        self.batches.append(batch)
        self.task_counts.append(int(n_task))
        return batch

    def switch(self, sampler: str, scores: np.ndarray, temperature: float) -> None:
        """Draw every replay example not handed out yet with ``sampler`` over ``scores``.

        The examples already placed stay as they were (random); the rest of the capacity is
        drawn anew, as ``forgetmap replay``'s online mode does after its probe step.
        """
        placed = self.placed
        self.sampler = sampler
        self.scores = np.asarray(scores, dtype=np.float64)
        self.temperature = float(temperature)
        self.switched_at = placed
        later = self._draw(max(self.capacity - placed, 0))
        self.chosen = np.concatenate([self.chosen[:placed], later])

    def _draw(self, budget: int) -> np.ndarray:
        return draw_replay(
            self.sampler,
            self.pool_size,
            budget,
            scores=self.scores,
            temperature=self.temperature,
            seed=self.rng,
        )
