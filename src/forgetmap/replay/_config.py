"""The config of ``forgetmap replay``: a collect config plus a ``[replay]`` table.

The model, upstream examples, tasks, training and scoring sections are those of
``forgetmap collect`` (:mod:`forgetmap.config`); ``[replay]`` says how replay is done and
measured. Unknown keys are errors. Example::

    [model]
    id = "tiny-random"
    [upstream]
    n = 48
    sources = [{ kind = "pydoc" }]
    [[tasks]]
    id = "spanish"
    source = { kind = "chatterbot", language = "spanish" }
    [training]
    steps = 8
    [replay]
    ratio = 0.125
    heldout = 16
    store = "runs/quickstart"
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from forgetmap.config import (
    ModelConfig,
    ScoringConfig,
    TaskConfig,
    TrainingConfig,
    UpstreamConfig,
    read_toml,
)
from forgetmap.errors import ConfigError
from forgetmap.replay._samplers import PREDICTED_SAMPLERS, SAMPLERS

__all__ = ["ReplayConfig", "ReplaySettings", "load_replay_config", "parse_replay_config"]

SamplerName = Literal[
    "none", "random", "predicted", "predicted_topk", "ground_truth", "predicted_directions"
]


class ReplaySettings(BaseModel):
    """The ``[replay]`` table: how replay is done and how the samplers are compared."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # Replay examples per task example, > 0 and < 1: 0.125 = one replay example per 8 task
    # examples. ratio × steps × batch_size must be a whole number (the ratio is realised exactly).
    ratio: float = 0.125
    # Samplers to compare (see the README); "none" is run whenever another sampler needs the
    # plain run (ground_truth, and the predicted samplers in offline mode).
    samplers: list[SamplerName] = Field(default_factory=lambda: list(SAMPLERS), min_length=1)
    # T of softmax(predicted forgetting / T), in the units of forgetting (nats); must be > 0.
    temperature: float = 0.05
    # Probes: upstream examples of the pool whose forgetting is measured to predict the rest.
    k: int = Field(30, gt=0)
    # "offline": probes measured after a plain run of the task; "online": the first
    # online_fraction of steps replay at random, then probes are measured on the model being
    # trained and the rest of the run replays by the predictions.
    mode: Literal["offline", "online"] = "offline"
    # Share of the steps trained with random replay before probing, in online mode.
    online_fraction: float = Field(0.1, gt=0, lt=1)
    # Training seeds; every (task, seed) pair is run with every sampler.
    seeds: list[int] = Field(default_factory=lambda: [0, 1], min_length=1)
    # How many upstream examples are held out for evaluation (never replayed), drawn with
    # split_seed; or name them with heldout_ids (and optionally the pool with pool_ids).
    heldout: int | None = None
    heldout_ids: list[str] | None = None
    pool_ids: list[str] | None = None
    # Seed of the held-out draw.
    split_seed: int = 0
    # Completion method of `forgetmap evaluate` that predicts forgetting from the k probes.
    # Default "auto": the method and its settings are chosen by inner validation on the store.
    predictor: str = Field("auto", min_length=1)
    # Which probes: "random" (seeded) or "active" (chosen from the store's training rows).
    probe: Literal["random", "active"] = "random"
    # A collected store of other tasks (same base model and upstream examples) to fit the
    # predictor on; a relative path is relative to the config file. Needed by predicted samplers.
    store: str | None = None
    # Bootstrap resamples and confidence of the intervals.
    bootstrap: int = Field(2000, ge=100)
    confidence: float = Field(0.95, gt=0, lt=1)

    @field_validator("ratio")
    @classmethod
    def _ratio_in_unit_interval(cls, value: float) -> float:
        if not 0 < value < 1:
            raise ValueError(
                f"must be > 0 and < 1 (replay examples per task example), got {value!r}"
            )
        return value

    @field_validator("temperature")
    @classmethod
    def _positive_temperature(cls, value: float) -> float:
        if not value > 0:
            raise ValueError(f"the temperature T must be > 0, got {value!r}")
        return value

    @field_validator("samplers", "seeds")
    @classmethod
    def _unique(cls, value: list[Any]) -> list[Any]:
        if len(set(value)) != len(value):
            raise ValueError("must not repeat an entry")
        return value

    @model_validator(mode="after")
    def _one_way_to_hold_out(self) -> ReplaySettings:
        if self.heldout is not None and self.heldout_ids is not None:
            raise ValueError("give either heldout (a count) or heldout_ids (names), not both")
        if self.heldout is None and self.heldout_ids is None:
            raise ValueError(
                "the held-out set is empty: give heldout (how many examples to hold out) "
                "or heldout_ids"
            )
        return self

    def run_samplers(self) -> list[str]:
        """The samplers actually run, in order: the chosen ones plus the plain run if needed."""
        chosen = set(self.samplers)
        needs_plain = "ground_truth" in chosen or (
            self.mode == "offline" and chosen & set(PREDICTED_SAMPLERS)
        )
        if needs_plain:
            chosen.add("none")
        return [s for s in SAMPLERS if s in chosen]

    def needs_store(self) -> bool:
        """Whether a predictions store is needed (a predicted sampler is chosen)."""
        return bool(set(self.samplers) & set(PREDICTED_SAMPLERS))


class ReplayConfig(BaseModel):
    """A whole ``forgetmap replay`` experiment."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # Seed of the upstream sample and of each task's example selection (as in collect).
    seed: int = 0
    model: ModelConfig = Field(default_factory=ModelConfig)
    upstream: UpstreamConfig
    tasks: list[TaskConfig] = Field(min_length=1)
    # Fine-tuning of every run; training.seed is replaced by each of replay.seeds.
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    replay: ReplaySettings = Field(default_factory=ReplaySettings)

    @field_validator("tasks")
    @classmethod
    def _unique_task_ids(cls, tasks: list[TaskConfig]) -> list[TaskConfig]:
        ids = [task.id for task in tasks]
        for task_id in ids:
            if ids.count(task_id) > 1:
                raise ValueError(f"duplicate task id {task_id!r}")
        return tasks

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every setting, defaults included (stored with the run)."""
        return self.model_dump(mode="json")


def load_replay_config(path: str | os.PathLike[str]) -> tuple[ReplayConfig, Path]:
    """Read and validate a TOML replay config; returns it and the folder paths are relative to."""
    path = Path(path)
    document = read_toml(path)
    return parse_replay_config(document, origin=str(path)), path.resolve().parent


def parse_replay_config(document: dict[str, Any], *, origin: str = "config") -> ReplayConfig:
    """Validate a replay config given as a dict; the first problem becomes a one-line error."""
    from forgetmap.config import _first_problem

    try:
        config = ReplayConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError(f"{origin}: {_first_problem(error)}") from None
    if config.scoring.metrics != ["nll"]:
        raise ConfigError(
            f'{origin}: scoring.metrics: replay measures NLL forgetting only; use ["nll"]'
        )
    return config
