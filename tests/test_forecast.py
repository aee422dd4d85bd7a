"""forgetmap forecast on tiny-random: a full ranking from k probes, and each bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from forgetmap.errors import CheckpointMismatchError
from forgetmap.forecast import choose_probes, forecast
from forgetmap.store import open_store
from tiny_run import german_adapter, small_store


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return small_store(tmp_path_factory.mktemp("forecast"))


@pytest.fixture(scope="module")
def adapter(run, tmp_path_factory):
    """A LoRA checkpoint fine-tuned with lm on one task's examples, saved like peft saves it."""
    return german_adapter(run, tmp_path_factory.mktemp("ckpt") / "german-lora")


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_forecast_writes_a_full_sorted_ranking(cli, run, adapter, tmp_path):
    out = tmp_path / "ranked.csv"
    result = cli("forecast", run, "--checkpoint", adapter, "--k", 4, "--out", out)
    assert result.code == 0, result.err
    assert "most at risk" in result.out
    rows = read_csv(out)
    store = open_store(run)
    n = store.shape[1]
    assert len(rows) == n
    assert sorted(r["example"] for r in rows) == sorted(store.example_ids)
    assert [int(r["rank"]) for r in rows] == list(range(1, n + 1))
    forgetting = np.array([float(r["forgetting"]) for r in rows])
    assert (np.diff(forgetting) <= 0).all()  # most at risk first
    probed = [r for r in rows if r["probed"] == "True"]
    assert len(probed) == 4
    for row in rows:
        if row["probed"] == "True":
            assert float(row["measured"]) == pytest.approx(float(row["forgetting"]))
        else:
            assert row["measured"] == ""
            assert float(row["low"]) <= float(row["predicted"]) <= float(row["high"])
        assert row["text"]
    texts = dict(zip(store.example_ids, store.examples()["text"], strict=True))
    assert all(row["text"] == texts[row["example"]] for row in rows)


def test_forecast_json_document(cli, run, adapter, tmp_path):
    out = tmp_path / "ranked.csv"
    result = cli(
        "--format",
        "json",
        "forecast",
        run,
        "--checkpoint",
        adapter,
        "--k",
        5,
        "--probe",
        "random",
        "--method",
        "additive",
        "--out",
        out,
    )
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["k"] == 5 and len(document["probes"]) == 5
    assert document["checkpoint_kind"] == "lora" and document["method"] == "additive"
    assert document["out"] == str(out) and len(read_csv(out)) == document["n_examples"]
    assert [row["rank"] for row in document["top"]] == list(range(1, len(document["top"]) + 1))


def test_verify_reports_how_the_forecast_did(cli, run, adapter, tmp_path):
    out = tmp_path / "ranked.csv"
    result = cli("forecast", run, "--checkpoint", adapter, "--k", 4, "--verify", "--out", out)
    assert result.code == 0, result.err
    assert "verified on the" in result.out and "Spearman" in result.out
    rows = read_csv(out)
    assert all(row["actual"] != "" for row in rows)
    for row in rows:
        if row["probed"] == "True":
            assert float(row["actual"]) == pytest.approx(float(row["measured"]))


def test_probes_are_measured_against_the_store(run, adapter):
    """The measured forgetting of a probe is after − before, scored by the fine-tuned model."""
    from forgetmap.lm import load_checkpoint, score_nll
    from forgetmap.stored_run import load_base_model, stored_run

    store = open_store(run)
    result = forecast(store, adapter, k=3, probe="random", seed=1)
    probed = result.ranking[result.ranking["probed"]]
    assert len(probed) == 3
    stored = stored_run(store)
    base = load_base_model(stored.config)
    upstream, _ = stored.encode(base.tokenizer)
    tuned = load_checkpoint(base, adapter)
    index = {example_id: j for j, example_id in enumerate(store.example_ids)}
    columns = [index[e] for e in probed["example"]]
    after = score_nll(tuned, [upstream[j] for j in columns]).astype(store.dtype)
    expected = after.astype(np.float64) - store.before("nll")[columns].astype(np.float64)
    np.testing.assert_allclose(probed["measured"].to_numpy(), expected, rtol=1e-5, atol=1e-7)
    # the same seed gives the same forecast
    again = forecast(store, adapter, k=3, probe="random", seed=1)
    assert list(again.ranking["example"]) == list(result.ranking["example"])
    assert json.dumps(again.document["probes"]) == json.dumps(result.document["probes"])


def test_choose_probes_active_and_random():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(6, 3)) @ rng.normal(size=(3, 40))
    active = choose_probes(values, 5, "active", seed=0)
    random = choose_probes(values, 5, "random", seed=0)
    for probes in (active, random):
        assert len(probes) == 5 and len(set(probes.tolist())) == 5
        assert (np.diff(probes) > 0).all()
    np.testing.assert_array_equal(random, choose_probes(values, 5, "random", seed=0))


@pytest.mark.parametrize("k", [0, 12, 50])
def test_bad_k_exits_2(cli, run, adapter, tmp_path, k):
    out = tmp_path / "ranked.csv"
    result = cli("forecast", run, "--checkpoint", adapter, "--k", k, "--out", out)
    assert result.code == 2
    assert "k must be" in result.err and len(result.err.strip().splitlines()) == 1
    assert not out.exists()


def test_missing_checkpoint_exits_2(cli, run, tmp_path):
    result = cli(
        "forecast", run, "--checkpoint", tmp_path / "nope", "--k", 3, "--out", tmp_path / "r.csv"
    )
    assert result.code == 2
    assert "no checkpoint" in result.err


def test_bad_method_and_probe_exit_2(cli, run, adapter, tmp_path):
    out = tmp_path / "r.csv"
    bad = cli("forecast", run, "--checkpoint", adapter, "--method", "nope", "--out", out, "--k", 3)
    assert bad.code == 2 and "unknown method" in bad.err
    binary = cli(
        "forecast", run, "--checkpoint", adapter, "--method", "logistic_lowrank", "--out", out
    )
    assert binary.code == 2 and "exact-match" in binary.err
    probe = cli("forecast", run, "--checkpoint", adapter, "--probe", "best", "--out", out)
    assert probe.code == 2 and "probe" in probe.err


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_adapter_of_another_model_is_refused(cli, run, tmp_path):
    """An adapter whose shapes do not fit the base model, and one naming another hub model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    other = GPT2LMHeadModel(GPT2Config(vocab_size=300, n_embd=32, n_layer=1, n_head=2))
    lora = LoraConfig(r=2, target_modules=["c_attn"], fan_in_fan_out=True, task_type="CAUSAL_LM")
    path = tmp_path / "other-lora"
    get_peft_model(other, lora).save_pretrained(path)
    result = cli("forecast", run, "--checkpoint", path, "--k", 3, "--out", tmp_path / "r.csv")
    assert result.code == 2
    assert "another model" in result.err and len(result.err.strip().splitlines()) == 1


def test_adapter_naming_another_base_is_refused(run, adapter, tmp_path):
    import shutil

    renamed = tmp_path / "renamed"
    shutil.copytree(adapter, renamed)
    config = json.loads((renamed / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "openai-community/gpt2-large"
    (renamed / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointMismatchError, match="gpt2-large"):
        forecast(open_store(run), renamed, k=3)


def test_full_checkpoint_of_another_architecture_is_refused(cli, run, tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    path = tmp_path / "other-full"
    GPT2LMHeadModel(GPT2Config(vocab_size=300, n_embd=32, n_layer=1, n_head=2)).save_pretrained(
        path
    )
    result = cli("forecast", run, "--checkpoint", path, "--k", 3, "--out", tmp_path / "r.csv")
    assert result.code == 2
    assert "another model" in result.err


def test_full_checkpoint_of_the_base_model_is_accepted(run, tmp_path):
    from forgetmap.stored_run import load_base_model, stored_run

    store = open_store(run)
    base = load_base_model(stored_run(store).config)
    path = tmp_path / "full"
    base.model.save_pretrained(path)
    result = forecast(store, path, k=3, probe="random")
    assert result.document["checkpoint_kind"] == "full"
    # the base model itself forgets nothing
    np.testing.assert_allclose(result.ranking["measured"].dropna(), 0.0, atol=1e-6)


def test_imported_store_is_refused(cli, tmp_path):
    from forgetmap.store import create_store

    matrix = np.arange(6, dtype=float).reshape(2, 3)
    path = tmp_path / "imported"
    create_store(path, ["a", "b"], ["x", "y", "z"], kind="imported", forgetting=matrix)
    result = cli("forecast", path, "--checkpoint", tmp_path, "--k", 1, "--out", tmp_path / "r.csv")
    assert result.code == 2
    assert "forgetmap collect" in result.err
