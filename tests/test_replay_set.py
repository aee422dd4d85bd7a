"""forgetmap replay-set on tiny-random: the JSONL replay set, its draws, and each bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from forgetmap.data import read_jsonl
from forgetmap.errors import ConfigError
from forgetmap.forecast import ranked_forgetting, read_ranking
from forgetmap.replay import choose_replay_set, draw_replay, replay_set_budget
from forgetmap.store import open_store
from tiny_run import german_adapter, small_store


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return small_store(tmp_path_factory.mktemp("replay-set"))


@pytest.fixture(scope="module")
def adapter(run, tmp_path_factory):
    """A LoRA checkpoint from a short fine-tuning on one task (an early part of a user's run)."""
    return german_adapter(run, tmp_path_factory.mktemp("ckpt") / "german-lora")


@pytest.fixture(scope="module")
def ranked(run, adapter, tmp_path_factory):
    """A forecast CSV of the adapter, as `forgetmap forecast` writes it."""
    from forgetmap.cli._app import main

    out = tmp_path_factory.mktemp("forecast") / "ranked.csv"
    assert (
        main(["forecast", str(run), "--checkpoint", str(adapter), "--k", "4", "--out", str(out)])
        == 0
    )
    return out


def read_lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_replay_set_from_a_checkpoint(cli, run, adapter, tmp_path):
    out = tmp_path / "replay.jsonl"
    result = cli(
        "--format", "json", "replay-set", run, "--checkpoint", adapter, "--k", 4,
        "--budget", 5, "--out", out,
    )  # fmt: skip
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["budget"] == 5 and document["predictions"] == "checkpoint"
    assert document["forecast"]["method"] == "auto"  # forecast's default
    records = read_lines(out)
    assert len(records) == 5 and len({r["id"] for r in records}) == 5
    assert [r["id"] for r in records] == document["ids"]
    store = open_store(run)
    assert {r["id"] for r in records} <= set(store.example_ids)
    for record in records:
        assert ("text" in record) != ("messages" in record)
        assert isinstance(record["predicted_forgetting"], float) and record["weight"] > 0
    # the jsonl source reads the file back, as the same examples the store was collected on
    from forgetmap.stored_run import stored_run

    upstream = {e.id: e for e in stored_run(store).plan.upstream}
    for example in read_jsonl(out):
        assert example.text == upstream[example.id].text
        assert example.messages == upstream[example.id].messages


def test_the_set_is_the_samplers_draw(run, ranked, tmp_path):
    """The ids written are those draw_replay picks from the forecast's forgetting, seed for seed."""
    from forgetmap.replay import replay_set
    from forgetmap.stored_run import stored_run

    store = open_store(run)
    forgetting = ranked_forgetting(read_ranking(ranked, store), store.example_ids)
    ids = store.example_ids
    for sampler in ("predicted", "predicted_topk", "random"):
        result = replay_set(
            store, forecast=ranked, budget=4, sampler=sampler, temperature=0.2, seed=3
        )
        expected = draw_replay(sampler, len(ids), 4, scores=forgetting, temperature=0.2, seed=3)
        assert result.document["ids"] == [ids[p] for p in expected]
        again = replay_set(
            store, forecast=ranked, budget=4, sampler=sampler, temperature=0.2, seed=3
        )
        assert again.records == result.records
    top = replay_set(store, forecast=ranked, budget=3, sampler="predicted_topk")
    assert sorted(r["predicted_forgetting"] for r in top.records) == sorted(
        np.sort(forgetting)[::-1][:3].round(6).tolist()
    )
    # the weight: softmax(forgetting / T) scaled to a pool mean of 1
    examples = stored_run(store).plan.upstream
    records = choose_replay_set(examples, forgetting, len(ids), sampler="random", temperature=0.5)
    assert np.mean([r["weight"] for r in records]) == pytest.approx(1.0, rel=1e-4)


def test_ratio_and_dataset_size(cli, run, ranked, tmp_path):
    out = tmp_path / "replay.jsonl"
    result = cli(
        "replay-set", run, "--forecast", ranked, "--ratio", 0.1, "--dataset-size", 57,
        "--out", out,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert len(read_lines(out)) == 5  # floor(0.1 * 57)
    assert "wrote 5 examples" in result.out
    assert replay_set_budget(ratio="1/8", dataset_size=80, pool_size=12) == 10


def test_random_needs_no_prediction(run, tmp_path):
    from forgetmap.replay import replay_set

    result = replay_set(open_store(run), budget=3, sampler="random", seed=1)
    assert [r["predicted_forgetting"] for r in result.records] == [None] * 3
    assert [r["weight"] for r in result.records] == [1.0] * 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget", 13], "larger than the pool of 12"),
        (["--budget", 0], "at least 1"),
        (["--ratio", 0, "--dataset-size", 10], "ratio must be > 0 and < 1"),
        (["--ratio", 1, "--dataset-size", 10], "ratio must be > 0 and < 1"),
        (["--ratio", 1.5, "--dataset-size", 10], "ratio must be > 0 and < 1"),
        (["--ratio", 0.5, "--dataset-size", 40], "larger than the pool"),
        (["--ratio", 0.5], "with the size of your training dataset"),
        (["--budget", 3, "--ratio", 0.5, "--dataset-size", 4], "not both"),
        (["--budget", 3, "--sampler", "ground_truth"], "cannot make a replay set"),
        (["--budget", 3, "--temperature", 0], "temperature"),
    ],
)
def test_bad_budget_and_sampler_exit_2(cli, run, ranked, tmp_path, args, message):
    out = tmp_path / "replay.jsonl"
    result = cli("replay-set", run, "--forecast", ranked, *args, "--out", out)
    assert result.code == 2, result.out
    assert message in result.err and len(result.err.strip().splitlines()) == 1
    assert not out.exists()


def test_targeted_without_predictions_exits_2(cli, run, tmp_path):
    out = tmp_path / "replay.jsonl"
    result = cli("replay-set", run, "--budget", 3, "--out", out)
    assert result.code == 2 and "--checkpoint" in result.err
    assert not out.exists()


def test_forecast_of_another_store_exits_2(cli, run, ranked, tmp_path):
    import csv

    rows = list(csv.DictReader(ranked.open(newline="")))
    rows[0]["example"] = "someone-else/0"
    other = tmp_path / "other.csv"
    with other.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "replay.jsonl"
    result = cli("replay-set", run, "--forecast", other, "--budget", 3, "--out", out)
    assert result.code == 2 and "another store" in result.err
    rows[0]["example"] = next(r["example"] for r in csv.DictReader(ranked.open(newline="")))
    rows[0]["text"] = "a text this store never had"
    with other.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = cli("replay-set", run, "--forecast", other, "--budget", 3, "--out", out)
    assert result.code == 2 and "another store" in result.err
    missing = cli(
        "replay-set", run, "--forecast", tmp_path / "nope.csv", "--budget", 3, "--out", out
    )
    assert missing.code == 2 and "no forecast CSV" in missing.err
    assert not out.exists()


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_checkpoint_of_another_model_exits_2(cli, run, tmp_path):
    """forecast's base-model check, reused: nothing is written."""
    from transformers import GPT2Config, GPT2LMHeadModel

    path = tmp_path / "other-full"
    GPT2LMHeadModel(GPT2Config(vocab_size=300, n_embd=32, n_layer=1, n_head=2)).save_pretrained(
        path
    )
    out = tmp_path / "replay.jsonl"
    result = cli("replay-set", run, "--checkpoint", path, "--k", 3, "--budget", 3, "--out", out)
    assert result.code == 2 and "another model" in result.err
    assert not out.exists()


def test_output_path_is_checked_first(cli, run, ranked, tmp_path):
    result = cli("replay-set", run, "--forecast", ranked, "--budget", 3, "--out", tmp_path)
    assert result.code == 2 and "is a directory" in result.err


def test_draw_errors_are_config_errors(run):
    with pytest.raises(ConfigError, match="needs predictions"):
        choose_replay_set([], None, 1, sampler="predicted")
