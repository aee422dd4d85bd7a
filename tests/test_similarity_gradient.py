"""Gradient similarity on a tiny-random store: shape, determinism, a direct check, analysis."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from forgetmap.similarity._gradient import per_example_gradients, store_gradient_similarity
from forgetmap.store import open_store
from tiny_run import small_store


def own_loss(loaded, example):
    """Mean NLL over the scored tokens, by the model's own loss (labels -100 elsewhere)."""
    import torch

    ids = torch.from_numpy(example.input_ids)[None]  # (1, T)
    labels = torch.where(torch.from_numpy(example.scored)[None], ids, -100)  # (1, T)
    return loaded.model(input_ids=ids, labels=labels).loss


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return small_store(tmp_path_factory.mktemp("gradient"))


@pytest.fixture(scope="module")
def computed(run, tmp_path_factory):
    """``forgetmap similarity RUN --kinds gradient`` on a copy of the run; returns the copy."""
    import shutil

    from forgetmap.cli._app import main

    copy = tmp_path_factory.mktemp("similarity") / "run"
    shutil.copytree(run, copy)
    assert main(["similarity", str(copy), "--kinds", "gradient", "--batch-size", "4"]) == 0
    return copy


def test_shape_sign_note_and_determinism(computed):
    store = open_store(computed)
    similarity = store.load_array("similarity_gradient")
    assert similarity.shape == store.shape
    assert np.isfinite(similarity).all() and np.abs(similarity).max() > 0
    assert "-lr" in store.load_json("similarity")["kinds"]["gradient"]["description"]
    again, info = store_gradient_similarity(store, batch_size=3)  # other batching, same numbers
    assert "-lr" in info["sign"]
    np.testing.assert_allclose(again, similarity, rtol=1e-4, atol=1e-9)


def test_matches_a_direct_computation(run, computed):
    """One (task, example) entry against plain autograd: ⟨∇L_j, mean over the task of ∇L_e⟩."""
    import torch

    from forgetmap.lm import base_weights
    from forgetmap.stored_run import load_base_model, stored_run

    similarity = open_store(computed).load_array("similarity_gradient")
    store = open_store(run)
    stored = stored_run(store)
    loaded = load_base_model(stored.config)
    upstream, tasks = stored.encode(loaded.tokenizer)
    task, example = 1, 5
    settings = dataclasses.replace(stored.settings, method="lora")
    with base_weights(loaded, settings):
        loaded.model.eval()
        params = [p for p in loaded.model.parameters() if p.requires_grad]
        g_example = torch.autograd.grad(own_loss(loaded, upstream[example]), params)
        task_examples = tasks[store.task_ids[task]]
        task_loss = torch.stack([own_loss(loaded, e) for e in task_examples]).mean()
        g_task = torch.autograd.grad(task_loss, params)
        direct = sum(
            float((a.double() * b.double()).sum()) for a, b in zip(g_example, g_task, strict=True)
        )
        # per-example gradients of a padded batch equal each example's own gradient
        batched = per_example_gradients(loaded, task_examples[:3], batch_size=3)
        alone = torch.cat(
            [g.reshape(-1) for g in torch.autograd.grad(own_loss(loaded, task_examples[2]), params)]
        )
    assert similarity[task, example] == pytest.approx(direct, rel=1e-4)  # stored as float32
    assert torch.allclose(batched[2], alone, rtol=1e-4, atol=1e-7)
    assert loaded.model.__class__.__name__ != "PeftModelForCausalLM"  # base model again


def test_analyze_correlates_forgetting_with_it(computed):
    from forgetmap.analysis import analyze

    document = analyze(open_store(computed), rank=1)
    correlation = document["correlations"]["gradient"]
    assert np.isfinite(correlation["spearman"]) and np.isfinite(correlation["pearson"])
