"""The experiment config of ``forgetmap collect``: a TOML file validated by typed models.

One file says everything that determines a forgetting matrix: which model, which N upstream
examples, which M tasks, how each task is fine-tuned and how examples are scored. The config is
stored with the run, so a resume under a different config is refused. Unknown keys are errors
(a misspelt key must never silently fall back to a default).

Example::

    seed = 0
    [model]
    id = "tiny-random"
    [upstream]
    n = 32
    sources = [{ kind = "pydoc" }, { kind = "chatterbot", language = "english" }]
    [[tasks]]
    id = "spanish"
    source = { kind = "chatterbot", language = "spanish" }
    [training]
    steps = 4
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import os
import tomllib
import types
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from forgetmap.errors import ConfigError, InputFileNotFoundError

__all__ = [
    "ChatterbotSource",
    "CollectTaskConfig",
    "ExperimentConfig",
    "FilesSource",
    "HuggingFaceSource",
    "JsonlSource",
    "ModelConfig",
    "PydocSource",
    "ScoringConfig",
    "Source",
    "TaskConfig",
    "TrainingConfig",
    "TrainingSettings",
    "UpstreamConfig",
    "load_config",
    "parse_config",
]

SOURCE_KINDS = ("chatterbot", "files", "huggingface", "jsonl", "pydoc")
FIELDS = ("id", "text", "prompt", "response", "messages")  # what a record may hold


class _Strict(BaseModel):
    """Base of every config section: unknown keys are errors, values are not coerced loosely."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# ---------------------------------------------------------------------- model
class ModelConfig(_Strict):
    """Which causal language model to fine-tune and score."""

    # A bundled id ("smollm2-135m-instruct", "tiny-random"), a Hugging Face hub id or a local
    # directory holding a model saved with `save_pretrained`.
    id: str = Field("smollm2-135m-instruct", min_length=1)
    # Weights' dtype: "auto" keeps the checkpoint's (float32 on CPU for the bundled models).
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    # "auto" picks CUDA when present, else the CPU; or name one: "cpu", "cuda", "cuda:1", "mps".
    device: str = Field("auto", min_length=1)
    # Run code shipped with a hub model; off unless you trust its authors.
    trust_remote_code: bool = False


# ---------------------------------------------------------------------- sources
class _SourceBase(_Strict):
    # How many examples to draw from this source (seeded, without replacement); for upstream
    # sources without `n`, upstream.n is split evenly; for tasks, unset means all of them.
    n: int | None = Field(None, gt=0)


class JsonlSource(_SourceBase):
    """A JSON Lines file: ``{"id", "text"}`` (plain) or ``{"id", "prompt", "response"}`` /
    ``{"id", "messages": [{"role", "content"}, ...]}`` (chat) per line."""

    kind: Literal["jsonl"]
    # Path to the file; relative paths are relative to the config file's folder.
    path: str = Field(min_length=1)


class HuggingFaceSource(_SourceBase):
    """A Hugging Face ``datasets`` dataset (needs the hub, or a local builder such as "json")."""

    kind: Literal["huggingface"]
    # Dataset name on the hub, or a builder name ("json", "csv", "parquet") with data_files.
    name: str = Field(min_length=1)
    # Dataset configuration (subset) name, if the dataset has several.
    config: str | None = None
    # Which split to read.
    split: str = "train"
    # Local files for a builder; relative paths are relative to the config file's folder.
    data_files: list[str] | None = None
    # Rename columns to the fields forgetmap reads: {"text" = "content", "id" = "uid"}; fields:
    # id (optional: "<name>/<row>" when absent), text, or prompt + response, or messages.
    columns: dict[str, str] = Field(default_factory=dict)

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}; fields are {', '.join(FIELDS)}")
        return value


class ChatterbotSource(_SourceBase):
    """Conversations of the installed ``chatterbot-corpus`` package (offline); each conversation
    is one chat example whose last turn is the response."""

    kind: Literal["chatterbot"]
    # Corpus language: a folder of chatterbot_corpus/data ("english", "spanish", ...).
    language: str = Field("english", min_length=1)
    # Category files of that language ("history", "ai", ...); unset: every category.
    categories: list[str] | None = Field(None, min_length=1)


class PydocSource(_SourceBase):
    """Python's own documentation topics (``pydoc_data.topics``, offline), cut into chunks of
    plain text."""

    kind: Literal["pydoc"]
    # Topic names ("if", "while", "TYPES", ...); unset: every topic.
    topics: list[str] | None = Field(None, min_length=1)
    # Target chunk length in characters; chunks end on a line break where one is near.
    chunk_chars: int = Field(300, ge=40)


class FilesSource(_SourceBase):
    """A folder of text or code files (or Python's standard library), each file cut into
    plain-text chunks at line boundaries; binary and unreadable files are skipped."""

    kind: Literal["files"]
    # The folder; relative paths are relative to the config file's folder. "stdlib" means the
    # running Python's standard library (its site-packages left out).
    root: str = Field(min_length=1)
    # Glob patterns of files to read, relative to root; "**" spans folders ("json/**/*.py"),
    # "*" and "?" stay within one folder ("*.py" is root's own files only).
    include: list[str] = Field(default_factory=lambda: ["**/*"], min_length=1)
    # Glob patterns of files to leave out of what include matched ("test/**").
    exclude: list[str] = Field(default_factory=list)
    # Target chunk length in characters; chunks end on a line break where one is near.
    chunk_chars: int = Field(1000, ge=40)
    # Chunks shorter than this are dropped (a file's tail, a one-line file); unset: a quarter
    # of chunk_chars.
    min_chars: int | None = Field(None, ge=1)

    @field_validator("include", "exclude")
    @classmethod
    def _relative_globs(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not pattern.strip("/"):
                raise ValueError(f'glob {pattern!r} is empty; write e.g. "**/*.py"')
            if pattern.startswith("/") or ".." in pattern.split("/"):
                raise ValueError(f"glob {pattern!r} must stay inside root (no leading / or ..)")
        return value

    @model_validator(mode="after")
    def _min_fits(self) -> FilesSource:
        if self.min_chars is not None and self.min_chars > self.chunk_chars:
            raise ValueError(
                f"min_chars = {self.min_chars} exceeds chunk_chars = {self.chunk_chars}, "
                "so every chunk would be dropped"
            )
        return self


Source = Annotated[
    JsonlSource | HuggingFaceSource | ChatterbotSource | PydocSource | FilesSource,
    Field(discriminator="kind"),
]


class UpstreamConfig(_Strict):
    """The N upstream examples whose forgetting is measured (the matrix's columns)."""

    # N: how many examples in all; drawn with the run's seed, without replacement.
    n: int = Field(gt=0)
    # Where they come from; N is split evenly over sources that do not set their own `n`.
    sources: list[Source] = Field(min_length=1)

    @model_validator(mode="after")
    def _shares_fit(self) -> UpstreamConfig:
        fixed = sum(source.n for source in self.sources if source.n is not None)
        free = sum(source.n is None for source in self.sources)
        if fixed > self.n or (free == 0 and fixed != self.n):
            raise ValueError(
                f"the sources' own n add up to {fixed}, which does not fit upstream.n = {self.n}"
            )
        if free and self.n - fixed < free:
            raise ValueError(
                f"upstream.n = {self.n} leaves fewer than one example for each source without n"
            )
        return self


class TaskConfig(_Strict):
    """One fine-tuning task (a row of the matrix)."""

    # Unique task id (the row's name in the store).
    id: str = Field(min_length=1)
    # Task family, for per-group analyses; unset: the source's kind.
    group: str | None = None
    # The task's training data.
    source: Source


class CollectTaskConfig(TaskConfig):
    """A task of ``forgetmap collect``: fine-tuned on its source, or given as a checkpoint.

    A task with a ``checkpoint`` is scored, not trained: it has no training settings of its own,
    and the run's ``[training]`` describes how its other tasks train. Its ``source`` is then
    optional; with one, the task's texts are stored for similarity and replay, as for a trained
    task. (Other commands that train every task, such as ``forgetmap replay``, take plain
    :class:`TaskConfig` tasks, which always train.)
    """

    # The task's training data; optional for a checkpoint task (its texts feed similarity).
    source: Source | None = None  # type: ignore[assignment]
    # A fine-tuned checkpoint to score instead of training: a LoRA adapter directory, a full
    # model saved with save_pretrained, or a hub id in the local cache (or reachable); relative
    # paths are relative to the config file's folder.
    checkpoint: str | None = Field(None, min_length=1)
    # SHA-256 of the checkpoint's files. Collect fills it in the config it stores, so a resume
    # over a changed checkpoint is refused as a changed config; set it to refuse other files.
    checkpoint_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="before")
    @classmethod
    def _no_training_of_its_own(cls, data: Any) -> Any:
        if isinstance(data, dict) and "training" in data and data.get("checkpoint") is not None:
            raise ValueError(
                f"task {data.get('id')!r} has both a checkpoint and training settings, but a "
                "checkpoint is scored as it is, never trained: remove the task's training "
                "(the run's [training] is how its other tasks train)"
            )
        return data

    @model_validator(mode="after")
    def _trained_or_given(self) -> CollectTaskConfig:
        if self.source is None and self.checkpoint is None:
            raise ValueError(
                f"task {self.id!r} needs a source to train on or a checkpoint to score"
            )
        if self.checkpoint_sha256 is not None and self.checkpoint is None:
            raise ValueError(f"task {self.id!r} has checkpoint_sha256 but no checkpoint")
        return self


# ---------------------------------------------------------------------- training and scoring
class TrainingConfig(_Strict):
    """How each task is fine-tuned.

    The one declaration of the training settings: :class:`TrainingSettings`, the dataclass
    that :mod:`forgetmap.lm` trains with, is made from these fields and checks.
    """

    # "lora": train a fresh low-rank adapter per task; "full": train every weight.
    method: Literal["lora", "full"] = "lora"
    # LoRA rank r of the adapter matrices.
    lora_rank: int = Field(8, gt=0)
    # LoRA scaling alpha (the update is scaled by alpha / r).
    lora_alpha: float = Field(16.0, gt=0)
    # Dropout on the adapter's input during training.
    lora_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    # Module names that get adapters; unset: a sensible default for the architecture.
    target_modules: list[str] | None = Field(None, min_length=1)
    # Transformer layers that get adapters (0-based; negative indices count from the top, so
    # [-8, -7, ..., -1] is the top eight); unset: every layer. Adapting only upper layers stops
    # the backward pass at the lowest adapted layer, so each step costs less.
    lora_layers: list[int] | None = Field(None, min_length=1)
    # Peak learning rate of AdamW.
    learning_rate: float = Field(2e-4, gt=0)
    # Optimizer steps per task.
    steps: int = Field(20, gt=0)
    # Examples per step.
    batch_size: int = Field(4, gt=0)
    # Training sequences are truncated to this many tokens.
    max_length: int = Field(128, gt=1)
    # Steps of linear warm-up before the schedule's decay.
    warmup_steps: int = Field(2, ge=0)
    # After warm-up: "linear" or "cosine" decay towards 0, or "constant" (the peak rate
    # throughout). A decay halves the mean rate of a short run, and with it how much a task
    # changes the model.
    schedule: Literal["linear", "cosine", "constant"] = "linear"
    # AdamW weight decay.
    weight_decay: float = Field(0.0, ge=0.0)
    # Gradients are clipped to this global norm; 0 turns clipping off.
    max_grad_norm: float = Field(1.0, ge=0)
    # Seed of the adapter initialisation, dropout and the order of training examples.
    seed: int = 0

    @field_validator("lora_layers")
    @classmethod
    def _distinct_layers(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError(f"names a layer twice: {list(value)}")
        return value

    def settings(self) -> TrainingSettings:
        """These settings as a :class:`TrainingSettings` (its lists become tuples)."""
        return TrainingSettings(**self.model_dump())


def _check_training(settings: TrainingSettings) -> None:
    """``TrainingSettings.__post_init__``: :class:`TrainingConfig`'s checks, lists as tuples.

    Values are checked leniently (a tuple for a list, a NumPy integer for an int), as Python
    callers pass them; a bad one raises ConfigError naming it (``training.steps: must be > 0``).
    """
    try:
        checked = TrainingConfig.model_validate(dataclasses.asdict(settings), strict=False)
    except ValidationError as error:
        raise ConfigError(f"training.{_first_problem(error)}") from None
    for name in TrainingConfig.model_fields:
        value = getattr(checked, name)
        setattr(settings, name, tuple(value) if isinstance(value, list) else value)


def _as_tuple(annotation: Any) -> Any:
    """``list[X] | None`` -> ``tuple[X, ...] | None``: the type of a field in a settings object."""
    if get_origin(annotation) is list:
        return tuple[get_args(annotation)[0], ...]
    if isinstance(annotation, types.UnionType):
        return functools.reduce(operator.or_, map(_as_tuple, get_args(annotation)))
    return annotation


TrainingSettings = dataclasses.make_dataclass(
    "TrainingSettings",
    [
        # every default is immutable (a number, a string or None), so it can be shared
        (name, _as_tuple(field.annotation), dataclasses.field(default=field.default))
        for name, field in TrainingConfig.model_fields.items()
    ],
    namespace={"__module__": __name__, "__post_init__": _check_training},
)
TrainingSettings.__doc__ = """How each task is fine-tuned: :class:`TrainingConfig` as a dataclass.

The fields, defaults and checks are those of :class:`TrainingConfig` (see its comments), with
tuples for its lists. This is what :mod:`forgetmap.lm` trains with (re-exported as
``forgetmap.lm.TrainingSettings``); ``dataclasses.replace`` makes a checked copy. Bad values
raise :class:`~forgetmap.errors.ConfigError` naming the key.
"""


class ScoringConfig(_Strict):
    """How upstream examples are scored before and after fine-tuning."""

    # "nll" (mean token negative log-likelihood over the scored span; always first) and
    # optionally "exact_match" (greedy decoding reproduces a chat response; 1 = forgotten).
    metrics: list[Literal["nll", "exact_match"]] = Field(default_factory=lambda: ["nll"])
    # Examples are truncated to this many tokens before scoring.
    max_length: int = Field(128, gt=1)
    # Examples per forward pass (length-sorted, so padding stays small).
    batch_size: int = Field(16, gt=0)
    # Or a budget of padded tokens per forward pass (rows × longest length) in place of
    # batch_size for scoring, so short examples fill the device as long ones do (e.g. 8192 on
    # a GPU). Scores change only by floating-point rounding.
    max_batch_tokens: int | None = Field(None, gt=0)
    # Longest greedy continuation for exact_match.
    max_new_tokens: int = Field(64, gt=0)

    def batching(self) -> dict[str, int | None]:
        """The keyword arguments of :func:`forgetmap.lm.score_nll` that set its batches."""
        return {"batch_size": self.batch_size, "max_batch_tokens": self.max_batch_tokens}

    @field_validator("metrics")
    @classmethod
    def _nll_first(cls, value: list[str]) -> list[str]:
        if not value or value[0] != "nll" or len(set(value)) != len(value):
            raise ValueError('must be ["nll"] or ["nll", "exact_match"]')
        return value


class ExperimentConfig(_Strict):
    """A whole ``forgetmap collect`` experiment."""

    # Seed of the upstream sample and of each task's training order.
    seed: int = 0
    # The model (see ModelConfig).
    model: ModelConfig = Field(default_factory=ModelConfig)
    # The upstream examples (the matrix's columns).
    upstream: UpstreamConfig
    # The tasks (the matrix's rows): each fine-tuned on its source, or given as a checkpoint.
    tasks: list[CollectTaskConfig] = Field(min_length=1)
    # How each task is fine-tuned.
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    # How examples are scored.
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)

    @field_validator("tasks")
    @classmethod
    def _unique_task_ids(cls, tasks: list[CollectTaskConfig]) -> list[CollectTaskConfig]:
        seen: set[str] = set()
        for task in tasks:
            if task.id in seen:
                raise ValueError(f"duplicate task id {task.id!r}")
            seen.add(task.id)
        return tasks

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict holding every setting, defaults included (stored with the run).

        Unset keys added since (a trained task's checkpoint keys, ``scoring.max_batch_tokens``)
        are left out, so the stored config, and with it the store's fingerprint, of a run that
        does not use them is what it was before they existed (such runs still resume).
        """
        document = self.model_dump(mode="json")
        if document["scoring"].get("max_batch_tokens") is None:
            document["scoring"].pop("max_batch_tokens", None)
        for task in document["tasks"]:
            for key in ("checkpoint", "checkpoint_sha256"):
                if task.get(key) is None:
                    task.pop(key, None)
        return document


# ---------------------------------------------------------------------- loading
def load_config(path: str | os.PathLike[str]) -> tuple[ExperimentConfig, Path]:
    """Read and validate a TOML experiment config.

    Returns the config and the folder that relative data paths are resolved against (the
    config file's folder). Raises :class:`~forgetmap.errors.ConfigError` with one line naming
    the offending key, or :class:`~forgetmap.errors.InputFileNotFoundError`.
    """
    path = Path(path)
    document = read_toml(path)
    return parse_config(document, origin=str(path)), path.resolve().parent


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a TOML config file; a missing, unreadable or malformed file is a one-line error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileNotFoundError(f"config file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise InputFileNotFoundError(f"config {str(path)!r} is a directory, not a file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config {str(path)!r} is not UTF-8 text") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{str(path)!r} is not valid TOML: {error}") from None
    return document


def parse_config(document: dict[str, Any], *, origin: str = "config") -> ExperimentConfig:
    """Validate a config given as a dict (the parsed TOML, or a stored run's config)."""
    try:
        return ExperimentConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError(f"{origin}: {_first_problem(error)}") from None


def _first_problem(error: ValidationError) -> str:
    problems = error.errors(include_url=False)
    first = problems[0]
    message = f"{_key(first['loc'])}: {_explain(first)}"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem{'s' * (len(problems) > 2)})"
    return message


def _key(loc: tuple[Any, ...]) -> str:
    """``("tasks", 2, "source", "jsonl", "path")`` -> ``tasks[2].source.path``."""
    parts: list[str] = []
    previous: Any = None
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif item in SOURCE_KINDS and (previous == "source" or isinstance(previous, int)):
            pass  # the union's tag that pydantic puts in the location; not a key of the file
        else:
            parts.append(str(item))
        previous = item
    return ".".join(parts) or "config"


def _explain(problem: dict[str, Any]) -> str:
    kind, context = problem["type"], problem.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<"}.get(kind, "<=")
        bound = next(iter(context.values()))
        return f"must be {op} {bound}, got {problem['input']!r}"
    if kind == "literal_error":
        return f"must be {context.get('expected')}, got {problem['input']!r}"
    if kind == "union_tag_invalid":
        return f"kind must be one of {', '.join(SOURCE_KINDS)}, got {context.get('tag')!r}"
    if kind == "union_tag_not_found":
        return f"a source needs a kind: one of {', '.join(SOURCE_KINDS)}"
    if kind in ("too_short", "string_too_short") and not problem.get("input"):
        return "must not be empty"
    message = str(problem["msg"])
    message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]
