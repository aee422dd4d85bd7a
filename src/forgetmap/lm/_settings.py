"""What a fine-tuning run does (settings) and what it reports (summary)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from forgetmap.errors import ConfigError
from forgetmap.lm._schedule import SCHEDULES, Schedule

METHODS = ("lora", "full")


@dataclass
class TrainingSettings:
    """How each task is fine-tuned. Validated on construction (bad values raise ConfigError)."""

    method: Literal["lora", "full"] = "lora"  # LoRA adapters, or every weight
    lora_rank: int = 8  # rank r of each adapter's update B @ A
    lora_alpha: float = 16  # the update is scaled by alpha / r
    lora_dropout: float = 0.0  # dropout on the adapter's input (0: deterministic training)
    target_modules: tuple[str, ...] | None = None  # None: peft's default for the architecture
    # Which transformer layers get adapters (0-based; negative counts from the top), None: all.
    # Adapting only the upper layers ends the backward pass there, which makes each step cheaper.
    lora_layers: tuple[int, ...] | None = None
    learning_rate: float = 2e-4  # peak learning rate, reached after warm-up
    steps: int = 20  # optimizer steps (one batch each)
    batch_size: int = 4  # examples per step
    max_length: int = 128  # tokens per training example, longer ones are cut
    warmup_steps: int = 2  # linear warm-up steps, then the schedule's decay (if any)
    schedule: Schedule = "linear"  # after warm-up: "linear" or "cosine" decay, or "constant"
    weight_decay: float = 0.0  # AdamW's decoupled weight decay
    max_grad_norm: float = 1.0  # gradients are clipped to this global norm (<= 0: no clipping)
    seed: int = 0  # adapter initialisation, data order and any dropout

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"training method must be one of {METHODS}, got {self.method!r}")
        if self.target_modules is not None:
            self.target_modules = tuple(self.target_modules)
            if not self.target_modules:
                raise ConfigError("target_modules must name at least one module (or be None)")
        if self.lora_layers is not None:
            self.lora_layers = tuple(int(layer) for layer in self.lora_layers)
            if not self.lora_layers:
                raise ConfigError("lora_layers must name at least one layer (or be None)")
            if len(set(self.lora_layers)) != len(self.lora_layers):
                raise ConfigError(f"lora_layers names a layer twice: {list(self.lora_layers)}")
        for name in ("steps", "batch_size", "lora_rank"):
            if getattr(self, name) < 1:
                raise ConfigError(f"training {name} must be at least 1, got {getattr(self, name)}")
        if self.max_length < 2:
            raise ConfigError(f"training max_length must be at least 2, got {self.max_length}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.warmup_steps < 0 or self.weight_decay < 0:
            raise ConfigError("warmup_steps and weight_decay must not be negative")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")


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
