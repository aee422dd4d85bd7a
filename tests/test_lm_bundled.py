"""The bundled SmolLM2: converted once into an atomic cache, then loaded from it."""

from __future__ import annotations

import numpy as np
import pytest

from forgetmap.data import Example
from forgetmap.lm import (
    TrainingSettings,
    _bundled,
    base_weights,
    cache_dir,
    encode_examples,
    finetune,
    load_model,
    score_nll,
    task_batches,
)


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FORGETMAP_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("FORGETMAP_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "forgetmap"


def test_the_bundled_gguf_file_is_found():
    assert _bundled.smollm2_gguf_path().stat().st_size > 50_000_000


def test_conversion_happens_once_and_a_failed_one_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("FORGETMAP_CACHE", str(tmp_path))
    calls = []

    def failing(gguf, out):
        (out / "model.safetensors").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(_bundled, "_convert_gguf", failing)
    with pytest.raises(KeyboardInterrupt):
        _bundled.smollm2_dir()
    assert list(tmp_path.iterdir()) == []  # neither a cache nor a temporary directory

    def converting(gguf, out):
        calls.append(gguf)
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(_bundled, "_convert_gguf", converting)
    first = _bundled.smollm2_dir()
    second = _bundled.smollm2_dir()
    assert first == second and (first / "config.json").is_file() and len(calls) == 1
    assert [p.name for p in tmp_path.iterdir()] == [first.name]


@pytest.mark.slow
def test_real_bundled_model_scores_and_finetunes():
    loaded = load_model()
    chats = [
        Example("paris", messages=(("user", "Capital of France?"), ("assistant", "Paris."))),
        Example("rome", messages=(("user", "Capital of Italy?"), ("assistant", "Rome."))),
    ]
    text = [Example("code", text="def add(a, b):\n    return a + b\n")]
    encoded = encode_examples(loaded.tokenizer, chats + text, max_length=64)
    before = score_nll(loaded, encoded)
    assert np.isfinite(before).all() and (before > 0).all() and before[2] < 5
    settings = TrainingSettings(steps=3, batch_size=2, learning_rate=1e-3, warmup_steps=0)
    with base_weights(loaded, settings):
        summary = finetune(loaded, task_batches(encoded[:2], settings, seed=0), settings)
        after = score_nll(loaded, encoded)
    assert summary.steps == 3 and (after[:2] < before[:2]).all()
    np.testing.assert_array_equal(score_nll(loaded, encoded), before)
