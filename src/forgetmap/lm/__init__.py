"""Language models: load, encode examples, score them and fine-tune (full or LoRA).

Heavy libraries (torch, transformers, peft) are imported inside the functions, so importing this
package is cheap.
"""

from forgetmap.lm._adapter import base_weights, frozen_lower_layers
from forgetmap.lm._bundled import cache_dir
from forgetmap.lm._checkpoint import applied_checkpoint, load_checkpoint, save_checkpoint
from forgetmap.lm._checkpoint_files import (
    check_checkpoint,
    checkpoint_digest,
    is_checkpoint_dir,
    resolve_checkpoint,
)
from forgetmap.lm._encode import EncodedExample, encode_examples
from forgetmap.lm._generate import exact_match
from forgetmap.lm._load import BUNDLED_IDS, hub_reachable, load_model
from forgetmap.lm._loaded import LoadedModel
from forgetmap.lm._reuse import LowerLayers
from forgetmap.lm._schedule import learning_rate_at
from forgetmap.lm._score import score_nll
from forgetmap.lm._settings import TrainingSettings, TrainingSummary
from forgetmap.lm._train import finetune, task_batches

__all__ = [
    "BUNDLED_IDS",
    "EncodedExample",
    "LoadedModel",
    "LowerLayers",
    "TrainingSettings",
    "TrainingSummary",
    "applied_checkpoint",
    "base_weights",
    "cache_dir",
    "check_checkpoint",
    "checkpoint_digest",
    "encode_examples",
    "exact_match",
    "finetune",
    "frozen_lower_layers",
    "hub_reachable",
    "is_checkpoint_dir",
    "learning_rate_at",
    "load_checkpoint",
    "load_model",
    "resolve_checkpoint",
    "save_checkpoint",
    "score_nll",
    "task_batches",
]
