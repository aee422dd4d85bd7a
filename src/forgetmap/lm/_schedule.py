"""The learning-rate schedule: linear warm-up, then a linear or cosine decay, or a constant rate."""

from __future__ import annotations

import math
from typing import Literal

SCHEDULES = ("linear", "cosine", "constant")
Schedule = Literal["linear", "cosine", "constant"]


def learning_rate_at(
    step: int,
    *,
    peak: float,
    warmup_steps: int,
    total_steps: int,
    schedule: Schedule = "linear",
) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of ``total_steps``.

    Rises linearly over the first ``warmup_steps`` steps to reach ``peak`` at step
    ``warmup_steps``. Then ``"linear"`` falls linearly and ``"cosine"`` along half a cosine, so
    that each would reach 0 one step after the last (no step taken is wasted at rate 0);
    ``"constant"`` stays at ``peak``. The decays halve the mean rate of a short run, which is why
    the schedule is a config choice: how much a task changes the model (and so how much it
    forgets) scales with rate × steps.

    >>> [round(learning_rate_at(s, peak=1.0, warmup_steps=2, total_steps=6), 3) for s in range(6)]
    [0.333, 0.667, 1.0, 0.75, 0.5, 0.25]
    >>> [round(learning_rate_at(s, peak=1.0, warmup_steps=1, total_steps=4, schedule="constant"), 3)
    ...  for s in range(4)]
    [0.5, 1.0, 1.0, 1.0]
    >>> [round(learning_rate_at(s, peak=1.0, warmup_steps=0, total_steps=4, schedule="cosine"), 3)
    ...  for s in range(4)]
    [1.0, 0.854, 0.5, 0.146]
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if step < warmup_steps:
        return peak * (step + 1) / (warmup_steps + 1)
    if schedule == "constant":
        return peak
    decay_steps = max(total_steps - warmup_steps, 1)
    remaining = max(total_steps - step, 0) / decay_steps  # 1 at the peak, 1/decay_steps last
    if schedule == "linear":
        return peak * remaining
    return peak * 0.5 * (1.0 + math.cos(math.pi * (1.0 - remaining)))
