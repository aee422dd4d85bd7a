"""Fine-tuning: schedule, stream, sign convention, determinism, base weights, checkpoints."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch

from forgetmap.data import Example
from forgetmap.errors import ConfigError, InputFileNotFoundError, ModelNotFoundError
from forgetmap.lm import (
    LowerLayers,
    TrainingSettings,
    base_weights,
    encode_examples,
    finetune,
    frozen_lower_layers,
    learning_rate_at,
    load_checkpoint,
    load_model,
    save_checkpoint,
    score_nll,
    task_batches,
)
from forgetmap.lm._adapter import has_adapter

LORA = TrainingSettings(method="lora", steps=12, learning_rate=1e-2, batch_size=3, seed=1)
FULL = TrainingSettings(method="full", steps=12, learning_rate=3e-3, batch_size=3, seed=1)


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny-random")


@pytest.fixture(scope="module")
def task(tiny):
    examples = [
        Example(f"c{i}", messages=(("user", f"what is {i} plus {i}?"), ("assistant", f"{2 * i}.")))
        for i in range(5)
    ] + [Example("t0", text="The quick brown fox jumps over the lazy dog.")]
    return encode_examples(tiny.tokenizer, examples, max_length=64)


@pytest.fixture(scope="module")
def upstream(tiny):
    examples = [
        Example(f"u{i}", text=f"Upstream sentence number {i}, unrelated.") for i in range(4)
    ]
    return encode_examples(tiny.tokenizer, examples, max_length=64)


def state(model) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def test_learning_rate_schedule_warms_up_then_decays():
    values = [learning_rate_at(s, peak=1.0, warmup_steps=2, total_steps=6) for s in range(6)]
    np.testing.assert_allclose(values, [1 / 3, 2 / 3, 1.0, 0.75, 0.5, 0.25])
    assert learning_rate_at(0, peak=2e-4, warmup_steps=0, total_steps=4) == 2e-4
    no_decay_room = [learning_rate_at(s, peak=1.0, warmup_steps=3, total_steps=3) for s in range(3)]
    np.testing.assert_allclose(no_decay_room, [0.25, 0.5, 0.75])
    assert all(learning_rate_at(s, peak=1.0, warmup_steps=1, total_steps=5) > 0 for s in range(5))


def test_constant_and_cosine_schedules_keep_the_warm_up_and_differ_after_it():
    def rates(schedule: str) -> list[float]:
        return [
            learning_rate_at(s, peak=1.0, warmup_steps=2, total_steps=6, schedule=schedule)
            for s in range(6)
        ]

    constant, cosine, linear = rates("constant"), rates("cosine"), rates("linear")
    np.testing.assert_allclose(constant, [1 / 3, 2 / 3, 1, 1, 1, 1])
    assert constant[:3] == cosine[:3] == linear[:3]  # the same warm-up
    assert cosine[3] > linear[3] and cosine[5] < linear[5] and min(cosine) > 0  # S-shaped
    assert sum(constant) > sum(cosine) and sum(constant) > sum(linear)  # a decay moves less
    with pytest.raises(ValueError, match="schedule"):
        learning_rate_at(0, peak=1.0, warmup_steps=0, total_steps=2, schedule="step")


def test_the_schedule_reaches_the_optimizer(tiny, task):
    scores = []
    for schedule in ("constant", "linear"):
        settings = TrainingSettings(steps=4, batch_size=2, warmup_steps=1, schedule=schedule)
        with base_weights(tiny, settings):
            finetune(tiny, task_batches(task, settings, seed=0), settings)
            scores.append(score_nll(tiny, task))
    assert not np.array_equal(scores[0], scores[1])  # same data and seed, other rates


def test_task_batches_cycle_through_shuffled_examples(task):
    settings = TrainingSettings(steps=5, batch_size=4)
    batches = task_batches(task, settings, seed=3)
    assert [len(b) for b in batches] == [4] * 5
    ids = [e.id for batch in batches for e in batch]
    assert sorted(ids[:6]) == sorted(e.id for e in task)  # each pass visits every example once
    assert ids == [e.id for b in task_batches(task, settings, seed=3) for e in b]
    assert ids != [e.id for b in task_batches(task, settings, seed=4) for e in b]
    with pytest.raises(ConfigError, match="at least one"):
        task_batches([], settings, seed=0)


@pytest.mark.parametrize("settings", [LORA, FULL], ids=["lora", "full"])
def test_finetuning_on_examples_lowers_their_nll(tiny, task, settings):
    before = score_nll(tiny, task)
    steps: list[int] = []
    with base_weights(tiny, settings):
        summary = finetune(
            tiny,
            task_batches(task, settings, seed=0),
            settings,
            on_step=lambda s, _: steps.append(s),
        )
        after = score_nll(tiny, task)
    assert (after < before).all()  # negative forgetting on the task's own examples
    assert summary.last_loss < summary.first_loss
    assert summary.steps == settings.steps and steps == list(range(1, settings.steps + 1))
    assert summary.tokens == sum(
        e.n_scored for b in task_batches(task, settings, seed=0) for e in b
    )
    assert set(summary.to_dict()) == {"first_loss", "last_loss", "steps", "tokens", "seconds"}


@pytest.mark.parametrize("settings", [LORA, FULL], ids=["lora", "full"])
def test_two_runs_give_bit_identical_scores(tiny, task, upstream, settings):
    runs = []
    for _ in range(2):
        with base_weights(tiny, settings):
            finetune(tiny, task_batches(task, settings, seed=settings.seed), settings)
            runs.append(score_nll(tiny, upstream))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_lora_seed_changes_the_adapter(tiny, task, upstream):
    scores = []
    for seed in (1, 2):
        settings = TrainingSettings(steps=4, learning_rate=1e-2, seed=seed)
        with base_weights(tiny, settings):
            finetune(tiny, task_batches(task, settings, seed=0), settings)
            scores.append(score_nll(tiny, upstream))
    assert not np.array_equal(scores[0], scores[1])


@pytest.mark.parametrize("settings", [LORA, FULL], ids=["lora", "full"])
def test_base_weights_restores_the_model_exactly(tiny, task, upstream, settings):
    model = tiny.model
    original = state(model)
    trainable = {n: p.requires_grad for n, p in model.named_parameters()}
    before = score_nll(tiny, upstream)
    with base_weights(tiny, settings):
        finetune(tiny, task_batches(task, settings, seed=0), settings)
        assert not np.array_equal(score_nll(tiny, upstream), before)
    assert tiny.model is model and not model.training
    restored = state(model)
    assert restored.keys() == original.keys()
    assert all(torch.equal(restored[k], original[k]) for k in original)
    assert {n: p.requires_grad for n, p in model.named_parameters()} == trainable
    np.testing.assert_array_equal(score_nll(tiny, upstream), before)


def test_base_weights_restores_after_an_error(tiny, upstream):
    before = score_nll(tiny, upstream)
    with pytest.raises(RuntimeError, match="boom"), base_weights(tiny, FULL):
        with torch.no_grad():
            next(tiny.model.parameters()).add_(1.0)
        raise RuntimeError("boom")
    np.testing.assert_array_equal(score_nll(tiny, upstream), before)


@pytest.mark.parametrize("settings", [LORA, FULL], ids=["lora", "full"])
def test_checkpoint_round_trip(tiny, task, upstream, settings, tmp_path):
    with base_weights(tiny, settings):
        finetune(tiny, task_batches(task, settings, seed=0), settings)
        tuned = score_nll(tiny, upstream)
        save_checkpoint(tiny, tmp_path / "ckpt")
    before = score_nll(tiny, upstream)
    reloaded = load_checkpoint(tiny, tmp_path / "ckpt")
    np.testing.assert_allclose(score_nll(reloaded, upstream), tuned, rtol=1e-5)
    np.testing.assert_array_equal(score_nll(tiny, upstream), before)  # the base is untouched


def test_bad_checkpoints_are_refused(tiny, tmp_path):
    with pytest.raises(InputFileNotFoundError):
        load_checkpoint(tiny, tmp_path / "missing")
    with pytest.raises(ModelNotFoundError, match="not a checkpoint"):
        load_checkpoint(tiny, tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"steps": 0}, "steps"),
        ({"method": "qlora"}, "method"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"target_modules": ()}, "target_modules"),
        ({"schedule": "step"}, "schedule"),
        ({"lora_layers": ()}, "lora_layers"),
        ({"lora_layers": (1, 1)}, "lora_layers"),
    ],
)
def test_bad_training_settings_are_refused(kwargs, problem):
    with pytest.raises(ConfigError, match=problem):
        TrainingSettings(**kwargs)


def test_full_finetuning_refuses_a_model_with_an_adapter(tiny, task):
    with base_weights(tiny, LORA), pytest.raises(ConfigError, match="LoRA adapter"):
        finetune(tiny, task_batches(task, FULL, seed=0), FULL)


def test_lora_layers_adapt_only_the_named_layers_and_end_the_backward_there(tiny, task):
    """Negative indices count from the top; layers below the lowest adapted one get no gradient
    (the backward pass stops there), and training still changes the model."""
    n_layers = tiny.model.config.num_hidden_layers
    settings = dataclasses.replace(LORA, lora_layers=(-1,))
    with base_weights(tiny, settings):
        adapted = {
            re.search(r"\.(\d+)\.", name).group(1)
            for name, parameter in tiny.model.named_parameters()
            if parameter.requires_grad
        }
        assert adapted == {str(n_layers - 1)}
        layers = next(
            module
            for module in tiny.model.modules()
            if isinstance(module, torch.nn.ModuleList) and len(module) == n_layers
        )
        needs_grad: dict[int, bool] = {}

        def record(index: int):
            def hook(module, args, out) -> None:
                output = out[0] if isinstance(out, tuple) else out
                needs_grad.setdefault(index, output.requires_grad)

            return hook

        hooks = [layer.register_forward_hook(record(i)) for i, layer in enumerate(layers)]
        try:
            summary = finetune(tiny, task_batches(task, settings, seed=0), settings)
        finally:
            for hook in hooks:
                hook.remove()
        assert summary.steps == settings.steps
        assert needs_grad == {i: i == n_layers - 1 for i in range(n_layers)}


def test_lora_layers_outside_the_model_are_refused(tiny):
    settings = dataclasses.replace(LORA, lora_layers=(0, 99))
    with (
        pytest.raises(ConfigError, match=r"lora_layers \[99\] outside"),
        base_weights(tiny, settings),
    ):
        pass
    assert not has_adapter(tiny.model)


def test_lower_layers_reused_across_passes_give_bit_identical_scores(tiny, task, upstream):
    """With LoRA on the top layer only, the base pass keeps the lower layers' outputs and each
    fine-tuned pass reuses them: the scores are exactly those of computing everything again."""
    settings = dataclasses.replace(LORA, lora_layers=(-1,))
    n_frozen = frozen_lower_layers(tiny.model, settings)
    assert n_frozen == tiny.model.config.num_hidden_layers - 1
    reuse = LowerLayers(n_frozen)
    before = score_nll(tiny, upstream, batch_size=2, reuse=reuse)
    assert reuse.hits == 0 and reuse.nbytes > 0
    np.testing.assert_array_equal(before, score_nll(tiny, upstream, batch_size=2))
    with base_weights(tiny, settings):
        finetune(tiny, task_batches(task, settings, seed=0), settings)
        plain = score_nll(tiny, upstream, batch_size=2)
        reused = score_nll(tiny, upstream, batch_size=2, reuse=reuse)
        again = score_nll(tiny, upstream, batch_size=2, reuse=reuse)  # kept outputs unharmed
    assert reuse.hits == 2 * -(-len(upstream) // 2)
    assert not np.array_equal(plain, before)
    np.testing.assert_array_equal(reused, plain)
    np.testing.assert_array_equal(again, plain)
    assert frozen_lower_layers(tiny.model, LORA) == 0 and frozen_lower_layers(tiny.model, FULL) == 0
