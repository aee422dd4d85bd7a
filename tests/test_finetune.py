"""forgetmap finetune: one task trained exactly as collect trains it, saved for forecast."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from forgetmap.collect import finetune_task
from forgetmap.config import parse_config
from forgetmap.forecast import forecast
from forgetmap.store import open_store
from tiny_run import SMALL_CONFIG, small_store

TINY = Path(__file__).resolve().parents[1] / "examples" / "tiny.toml"


def test_checkpoint_of_a_measured_task_reproduces_its_row(tmp_path_factory):
    run = small_store(tmp_path_factory.mktemp("finetune"))
    store = open_store(run)
    checkpoint = tmp_path_factory.mktemp("ckpt") / "german"
    summary = finetune_task(parse_config(SMALL_CONFIG), "german", checkpoint, threads=1)
    assert summary["task"] == "german" and summary["steps"] == 2
    assert (checkpoint / "adapter_config.json").is_file()
    result = forecast(store, checkpoint, k=4, probe="random", seed=3)
    probed = result.ranking[result.ranking["probed"]]
    index = {example_id: j for j, example_id in enumerate(store.example_ids)}
    columns = [index[example] for example in probed["example"]]
    row = store.forgetting()[store.task_ids.index("german")]
    np.testing.assert_allclose(probed["measured"].to_numpy(), row[columns], rtol=1e-5, atol=1e-6)
    # --verify scores the rest: every example's actual forgetting is the store's row
    verified = forecast(store, checkpoint, k=4, probe="random", seed=3, verify=True)
    ranking = verified.ranking
    actual = ranking.set_index("example")["actual"].reindex(store.example_ids).to_numpy()
    np.testing.assert_allclose(actual, row, rtol=1e-5, atol=1e-6)
    check = verified.document["verification"]
    hidden = ~ranking["probed"].to_numpy()
    error = ranking["predicted"].to_numpy()[hidden] - ranking["actual"].to_numpy()[hidden]
    assert check["examples"] == len(store.example_ids) - 4
    assert check["rmse"] == pytest.approx(np.sqrt(np.mean(error**2)))
    assert 0.0 <= check["coverage"] <= 1.0 and check["column_mean_rmse"] > 0
    assert np.isnan(result.ranking["actual"]).all()  # not verified: no actual values


def test_cli_writes_an_adapter_and_its_record(cli, tmp_path):
    out = tmp_path / "money-adapter"
    result = cli("--format", "json", "finetune", TINY, "--task", "money", "--out", out)
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["task"] == "money" and document["method"] == "lora"
    assert document["steps"] == 3 and document["model"] == "tiny-random"
    assert (out / "adapter_config.json").is_file()
    assert json.loads((out / "forgetmap-finetune.json").read_text())["task"] == "money"
    again = cli("finetune", TINY, "--task", "money", "--out", out)  # its own output: replaced
    assert again.code == 0, again.err
    assert "LoRA adapter" in again.out and "money" in again.out


@pytest.mark.parametrize("case", ["unknown task", "foreign directory", "file"])
def test_bad_input_exits_2_and_touches_nothing(cli, tmp_path, case):
    out = tmp_path / "out"
    task = "money"
    if case == "unknown task":
        task = "klingon"
    elif case == "foreign directory":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    else:
        out.write_text("a file")
    result = cli("finetune", TINY, "--task", task, "--out", out)
    assert result.code == 2
    assert result.err.count("\n") == 1
    message = {"unknown task": "no task 'klingon'", "foreign directory": "not a forgetmap"}
    assert message.get(case, "is a file") in result.err
    if case == "foreign directory":
        assert [p.name for p in out.iterdir()] == ["notes.txt"]
    elif case == "unknown task":
        assert not out.exists()


def test_a_write_error_while_saving_is_one_line(cli, tmp_path, monkeypatch):
    import errno

    import forgetmap.lm

    def full_disk(loaded, target):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(forgetmap.lm, "save_checkpoint", full_disk)
    out = tmp_path / "out"
    result = cli("finetune", TINY, "--task", "money", "--out", out)
    assert result.code == 2, result.err
    errors = [line for line in result.err.splitlines() if line.startswith("forgetmap: error")]
    assert len(errors) == 1 and "Traceback" not in result.err  # one line after the progress bar
    assert "cannot write the checkpoint" in errors[0] and "No space left" in errors[0]
    assert not (out / "forgetmap-finetune.json").exists()


def test_a_crash_before_the_marker_leaves_nothing_a_rerun_refuses(cli, tmp_path, monkeypatch):
    """The checkpoint and its marker are written aside and moved into place together: a crash
    between the two leaves the earlier checkpoint (or nothing), never a marker-less checkpoint
    that the next run would refuse to replace as a foreign directory."""
    import forgetmap.collect._finetune as finetune_module

    class Crash(BaseException):
        """A kill: no handler catches it."""

    def crash(path, document):
        raise Crash

    out = tmp_path / "out"
    monkeypatch.setattr(finetune_module, "atomic_write_json", crash)
    with pytest.raises(Crash):
        cli("finetune", TINY, "--task", "money", "--out", out)
    assert list(tmp_path.iterdir()) == []  # no checkpoint, and the folder aside is gone
    monkeypatch.undo()
    assert cli("finetune", TINY, "--task", "money", "--out", out).code == 0
    record = (out / "forgetmap-finetune.json").read_text()
    monkeypatch.setattr(finetune_module, "atomic_write_json", crash)
    with pytest.raises(Crash):  # a rerun that crashes keeps the earlier checkpoint whole
        cli("finetune", TINY, "--task", "money", "--out", out)
    assert (out / "forgetmap-finetune.json").read_text() == record
    assert (out / "adapter_config.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    monkeypatch.undo()
    assert cli("finetune", TINY, "--task", "money", "--out", out).code == 0
