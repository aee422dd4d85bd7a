"""forgetmap.integrations.transformers with a real transformers.Trainer on tiny-random.

The replay rows the model trains on are the sampler's draws, the ratio is exact at every batch,
a seed reproduces the run, and a store of another model or tokenizer is refused.
"""

from __future__ import annotations

import numpy as np
import pytest

from forgetmap.errors import CheckpointMismatchError, ConfigError, ForgetmapError
from forgetmap.integrations.transformers import ReplayMixer
from forgetmap.replay import draw_replay, replay_count
from forgetmap.store import open_store
from tiny_run import small_store

STEPS, BATCH = 6, 2


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return small_store(tmp_path_factory.mktemp("trainer"))


def user_data(tokenizer, n=16):
    """The user's own task data, tokenised as a Trainer expects it."""
    texts = [f"user example number {i}: the quick brown fox" for i in range(n)]
    return [{"input_ids": tokenizer(text)["input_ids"][:24]} for text in texts]


def make_trainer(tmp_path, *, seed=0, model=None, tokenizer=None, steps=STEPS, **args):
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

    from forgetmap.lm import load_model

    loaded = load_model("tiny-random", device="cpu")
    model = model if model is not None else loaded.model
    tokenizer = tokenizer if tokenizer is not None else loaded.tokenizer
    arguments = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=steps,
        per_device_train_batch_size=BATCH,
        learning_rate=1e-3,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        seed=seed,
        dataloader_num_workers=0,
        **args,
    )
    return Trainer(
        model=model,
        args=arguments,
        train_dataset=user_data(tokenizer),
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
        processing_class=tokenizer,
    )


def record_batches(trainer):
    """Wrap the (already replaying) collator to keep every batch it hands the trainer."""
    seen = []
    inner = trainer.data_collator

    def collate(features):
        batch = inner(features)
        seen.append((len(features), {key: value.clone() for key, value in batch.items()}))
        return batch

    trainer.data_collator = collate
    return seen


def train_online(run, tmp_path, seed=5):
    from forgetmap.integrations.transformers import ForgetmapReplay

    trainer = make_trainer(tmp_path, seed=seed)
    replay = ForgetmapReplay(
        run, ratio=0.5, sampler="predicted", probe_step=2, k=3, temperature=0.2, seed=seed
    )
    replay.attach(trainer)
    seen = record_batches(trainer)
    trainer.train()
    return replay, trainer, seen


def test_online_replay_trains_on_the_samplers_draws(run, tmp_path):
    replay, _, seen = train_online(run, tmp_path)
    store = open_store(run)
    ids = store.example_ids
    # the ratio is exact: 1 replay row per 2 task examples, in every batch trained on
    assert replay.task_examples == STEPS * BATCH
    assert len(replay.replayed_ids) == replay_count(STEPS * BATCH, 0.5) == STEPS
    trained = seen[:STEPS]
    for n_task, batch in trained:
        assert batch["input_ids"].shape[0] == n_task + 1
    # the replay rows are the encoded upstream examples the sampler chose
    encoded = {e.id: e for e in replay._train_encoded}
    for (n_task, batch), example_id in zip(trained, replay.replayed_ids, strict=True):
        tokens = encoded[example_id].input_ids
        row = batch["input_ids"][n_task][: len(tokens)].numpy()
        np.testing.assert_array_equal(row, tokens)
        labels = batch["labels"][n_task][: len(tokens)].numpy()
        np.testing.assert_array_equal(
            labels[encoded[example_id].scored], tokens[encoded[example_id].scored]
        )
        assert (labels[~encoded[example_id].scored] == -100).all()
    # ... which are: a random draw up to the switch, then predicted forgetting after the probes
    rng = np.random.default_rng([5, 0])
    capacity = replay_count(STEPS * BATCH + BATCH, 0.5)
    first = draw_replay("random", len(ids), capacity, seed=rng)
    switched = replay.mixer.switched_at
    assert 2 <= switched <= 3  # after step 2 (the loader may have collated one batch ahead)
    later = draw_replay(
        "predicted",
        len(ids),
        capacity - switched,
        scores=replay.predicted,
        temperature=0.2,
        seed=rng,
    )
    expected = np.concatenate([first[:switched], later])[:STEPS]
    assert replay.replayed_ids == [ids[p] for p in expected]
    summary = replay.summary()
    assert summary["mode"] == "online" and summary["probe_step"] == 2
    assert len(summary["probes"]) == 3 and len(summary["predicted"]) == len(ids)


def test_a_seed_reproduces_the_run(run, tmp_path):
    first, trainer_a, _ = train_online(run, tmp_path / "a")
    second, trainer_b, _ = train_online(run, tmp_path / "b")
    assert first.replayed_ids == second.replayed_ids
    np.testing.assert_allclose(first.predicted, second.predicted, rtol=1e-6, atol=1e-8)
    losses = [
        [e["loss"] for e in t.state.log_history if "loss" in e] for t in (trainer_a, trainer_b)
    ]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)
    other, _, _ = train_online(run, tmp_path / "c", seed=6)
    assert other.replayed_ids != first.replayed_ids


def test_random_replay_at_an_uneven_ratio(run, tmp_path):
    from forgetmap.integrations.transformers import ForgetmapReplay

    trainer = make_trainer(tmp_path, steps=5)
    replay = ForgetmapReplay(run, ratio="1/3", sampler="random", seed=2).attach(trainer)
    seen = record_batches(trainer)
    trainer.train()
    rows = [batch["input_ids"].shape[0] - n for n, batch in seen[:5]]
    assert rows == [0, 1, 1, 0, 1]  # floor(c / 3) after 2, 4, 6, 8, 10 task examples
    assert len(replay.replayed_ids) == 3 == replay_count(10, "1/3")
    rng = np.random.default_rng([2, 0])
    chosen = draw_replay("random", open_store(run).shape[1], replay_count(12, "1/3"), seed=rng)
    assert replay.replayed_ids == [open_store(run).example_ids[p] for p in chosen[:3]]


def test_offline_replay_from_a_forecast_csv(run, tmp_path):
    """A ranking CSV replays by prediction from the first batch."""
    from forgetmap.forecast import build_ranking, write_ranking
    from forgetmap.integrations.transformers import ForgetmapReplay

    store = open_store(run)
    n = store.shape[1]
    predicted = np.linspace(1.0, -1.0, n)
    nan = np.full(n, np.nan)
    path = tmp_path / "ranked.csv"
    write_ranking(
        build_ranking(store, np.array([0]), predicted[:1], predicted, nan, nan, nan), path
    )
    trainer = make_trainer(tmp_path)
    replay = ForgetmapReplay(run, ratio=0.5, sampler="predicted_topk", forecast=path)
    replay.attach(trainer)
    trainer.train()
    assert sorted(replay.replayed_ids) == sorted(store.example_ids[:STEPS])


def test_a_tokenizer_of_another_model_is_refused(run, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from forgetmap.integrations.transformers import ForgetmapReplay
    from forgetmap.lm._tiny import CHAT_TEMPLATE

    words = Tokenizer(models.WordLevel({"[UNK]": 0, "[PAD]": 1}, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=words, unk_token="[UNK]", pad_token="[PAD]", eos_token="[PAD]"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    trainer = make_trainer(tmp_path, tokenizer=tokenizer)
    replay = ForgetmapReplay(run, sampler="random")
    with pytest.raises(CheckpointMismatchError, match="tokenizer"):
        replay.attach(trainer)


def test_a_model_other_than_the_stores_is_refused(run, tmp_path):
    import torch

    from forgetmap.integrations.transformers import ForgetmapReplay
    from forgetmap.lm._tiny import build_tiny_model, build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    other = build_tiny_model(len(tokenizer), seed=1)  # same architecture, other weights...
    with torch.no_grad():
        other.transformer.wte.weight.mul_(20.0)  # ...far from uniform, like a trained model
    trainer = make_trainer(tmp_path, model=other, tokenizer=tokenizer)
    ForgetmapReplay(run, ratio=0.5, sampler="predicted", k=3).attach(trainer)
    with pytest.raises(CheckpointMismatchError, match="not the base model"):
        trainer.train()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ratio": 0}, "ratio must be > 0 and < 1"),
        ({"ratio": 1}, "ratio must be > 0 and < 1"),
        ({"sampler": "ground_truth"}, "cannot replay"),
        ({"temperature": -1}, "temperature"),
        ({"probe_step": 0}, "probe_step"),
        ({"k": 12}, "k must be"),
    ],
)
def test_bad_arguments_are_refused(run, kwargs, message):
    from forgetmap.integrations.transformers import ForgetmapReplay

    with pytest.raises(ForgetmapError, match=message):
        ForgetmapReplay(run, **kwargs)


def test_workers_are_refused(run, tmp_path):
    from forgetmap.integrations.transformers import ForgetmapReplay

    trainer = make_trainer(tmp_path)
    trainer.args.dataloader_num_workers = 2
    ForgetmapReplay(run, sampler="random").attach(trainer)
    with pytest.raises(ConfigError, match="dataloader_num_workers=0"):
        trainer.train()


def test_mixer_places_floor_ratio_at_every_batch():
    mixer = ReplayMixer(10, 0.3, capacity=6, seed=0)
    sizes = [3, 1, 4, 2, 5]
    for size in sizes:
        mixer.take(size)
    placed = np.cumsum([batch.size for batch in mixer.batches])
    np.testing.assert_array_equal(placed, [replay_count(c, 0.3) for c in np.cumsum(sizes)])
    before = mixer.chosen[: mixer.placed].copy()
    mixer.switch("predicted_topk", np.arange(10.0), 1.0)
    np.testing.assert_array_equal(mixer.chosen[: before.size], before)
    assert sorted(mixer.chosen[before.size :]) == sorted(range(10 - (6 - before.size), 10))
    # a run longer than planned draws more from the current sampler
    mixer.take(40)
    assert mixer.placed == replay_count(55, 0.3)


def test_importing_the_integration_stays_light():
    import subprocess
    import sys

    code = "import forgetmap.integrations.transformers, sys; print('transformers' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_sft_trainer(run, tmp_path):
    """TRL's SFTTrainer, when TRL is installed: same exact ratio."""
    pytest.importorskip("trl")
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from forgetmap.integrations.transformers import ForgetmapReplay
    from forgetmap.lm import load_model

    loaded = load_model("tiny-random", device="cpu")
    data = Dataset.from_list([{"text": f"user text {i} about foxes"} for i in range(12)])
    config = SFTConfig(
        output_dir=str(tmp_path / "sft"),
        max_steps=4,
        per_device_train_batch_size=2,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        max_length=32,
        dataloader_num_workers=0,
    )
    trainer = SFTTrainer(
        model=loaded.model, args=config, train_dataset=data, processing_class=loaded.tokenizer
    )
    replay = ForgetmapReplay(run, ratio=0.5, sampler="predicted", probe_step=2, k=3).attach(trainer)
    trainer.train()
    assert replay.task_examples == 8 and len(replay.replayed_ids) == 4
    assert replay.predicted is not None


def test_a_probe_step_after_the_run_is_refused(run, tmp_path):
    from forgetmap.integrations.transformers import ForgetmapReplay

    trainer = make_trainer(tmp_path)
    ForgetmapReplay(run, sampler="predicted", probe_step=99, k=3).attach(trainer)
    with pytest.raises(ConfigError, match="after the run's last step"):
        trainer.train()
