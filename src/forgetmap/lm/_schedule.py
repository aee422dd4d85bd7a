"""The learning-rate schedule: linear warm-up, then linear decay."""

from __future__ import annotations


def learning_rate_at(step: int, *, peak: float, warmup_steps: int, total_steps: int) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of ``total_steps``.

    Rises linearly over the first ``warmup_steps`` steps to reach ``peak`` at step
    ``warmup_steps``, then falls linearly so that it would reach 0 one step after the last; it
    never is 0 at a step that is taken, so no step is wasted.

    >>> [round(learning_rate_at(s, peak=1.0, warmup_steps=2, total_steps=6), 3) for s in range(6)]
    [0.333, 0.667, 1.0, 0.75, 0.5, 0.25]
    """
    if step < warmup_steps:
        return peak * (step + 1) / (warmup_steps + 1)
    decay_steps = max(total_steps - warmup_steps, 1)
    return peak * max(total_steps - step, 0) / decay_steps
