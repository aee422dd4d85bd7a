"""What a fine-tuning run does (settings) and what it reports (summary).

The settings are declared once, in the config layer below this one:
:class:`~forgetmap.config.TrainingSettings` is :class:`~forgetmap.config.TrainingConfig` as a
dataclass, re-exported here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from forgetmap.config import TrainingSettings

__all__ = ["TrainingSettings", "TrainingSummary"]


@dataclass
class TrainingSummary:
    """What one fine-tuning run did.

    Attributes
    ----------
    first_loss, last_loss : float
        Training loss (mean NLL over the batch's scored tokens) at the first and last step.
    steps : int
        Optimizer steps taken.
    tokens : int
        Scored (trained-on) tokens seen, summed over steps.
    seconds : float
        Wall-clock time of the loop.
    """

    first_loss: float
    last_loss: float
    steps: int
    tokens: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return asdict(self)
