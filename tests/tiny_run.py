"""A small collected run on ``tiny-random``, collected once per test session (a few seconds)."""

from __future__ import annotations

import shutil
from pathlib import Path

SMALL_CONFIG = {
    "seed": 0,
    "model": {"id": "tiny-random"},
    "upstream": {
        "n": 12,
        "sources": [
            {"kind": "pydoc", "chunk_chars": 120, "topics": ["if", "while", "for"]},
            {"kind": "chatterbot", "language": "english", "categories": ["ai", "greetings"]},
        ],
    },
    "tasks": [
        {
            "id": "spanish",
            "group": "language",
            "source": {"kind": "chatterbot", "language": "spanish", "n": 6},
        },
        {
            "id": "german",
            "group": "language",
            "source": {"kind": "chatterbot", "language": "german", "n": 6},
        },
        {
            "id": "history",
            "group": "topic",
            "source": {
                "kind": "chatterbot",
                "language": "english",
                "categories": ["history"],
                "n": 6,
            },
        },
    ],
    "training": {
        "learning_rate": 1e-3,
        "steps": 2,
        "batch_size": 2,
        "max_length": 32,
        "warmup_steps": 0,
    },
    "scoring": {"max_length": 32, "batch_size": 16},
}

_PRISTINE: list[Path] = []  # the one collected copy, left untouched by the tests


def small_store(root: Path) -> Path:
    """:data:`SMALL_CONFIG` collected into ``root / "small-run"``.

    The run is collected once per session (into a hidden folder under the first ``root``) and
    copied into each ``root`` asked for, so every caller gets its own store under the root it
    gave, and what one test writes into its store (artifacts, similarities) no other sees.
    """
    path = root / "small-run"
    if not path.exists():
        if not _PRISTINE:
            from forgetmap.collect import collect
            from forgetmap.config import parse_config

            pristine = root / ".small-run-pristine"
            collect(parse_config(SMALL_CONFIG), pristine, threads=1)
            _PRISTINE.append(pristine)
        shutil.copytree(_PRISTINE[0], path)
    return path


def german_adapter(run: Path, path: Path) -> Path:
    """A LoRA checkpoint of a short fine-tuning of ``run``'s model on its ``german`` task (seed
    7), saved at ``path`` as peft saves it: a checkpoint from a user's own run."""
    from forgetmap.lm import base_weights, finetune, save_checkpoint, task_batches
    from forgetmap.store import open_store
    from forgetmap.stored_run import load_base_model, stored_run

    stored = stored_run(open_store(run))
    loaded = load_base_model(stored.config)
    _, tasks = stored.encode(loaded.tokenizer)
    with base_weights(loaded, stored.settings):
        finetune(loaded, task_batches(tasks["german"], stored.settings, seed=7), stored.settings)
        save_checkpoint(loaded, path)
    return path
