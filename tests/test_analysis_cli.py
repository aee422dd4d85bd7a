"""``forgetmap analyze``: tables, JSON document and artifact, and bad input with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

import forgetmap


@pytest.fixture
def run(tmp_path, cli):
    assert cli("synth", tmp_path / "g.npy", "--tasks", 12, "--examples", 80).code == 0
    assert cli("import", tmp_path / "g.npy", "--out", tmp_path / "run").code == 0
    return tmp_path / "run"


def test_analyze_prints_tables_and_writes_json(run, tmp_path, cli):
    result = cli("analyze", run, "--rank", 3, "--json", tmp_path / "a.json")
    assert result.code == 0, result.err
    assert "multiplicative" in result.out and "co-clusters" in result.out
    document = json.loads((tmp_path / "a.json").read_text())
    assert document == forgetmap.open_store(run).load_json("analysis")
    assert list(document["rank_r2"]) == ["1", "2", "3"]
    assert document["fits"]["multiplicative"] == document["rank_r2"]["1"]
    for group in document["groups"]:
        assert {"axis", "field", "value", "statistic", "p_value", "q_value"} <= group.keys()
    for cluster in document["coclusters"]:
        assert {"tasks", "examples", "mean_residual"} <= cluster.keys()


def test_json_format_prints_one_document(run, cli):
    result = cli("--format", "json", "analyze", run, "--group-by", "group", "--seed", 3)
    assert result.code == 0
    document = json.loads(result.out)
    assert document["settings"]["seed"] == 3
    assert document["settings"]["group_fields"] == {"tasks": ["group"], "examples": []}
    assert document["settings"]["rank"] == 10


def _one_line_error(result, *words):
    assert result.code == 2 and result.err.count("\n") == 1
    for word in words:
        assert word in result.err


def test_bad_rank_and_unknown_field(run, cli):
    _one_line_error(cli("analyze", run, "--rank", 12), "--rank 12", "12")
    _one_line_error(cli("analyze", run, "--group-by", "colour"), "'colour'", "group")


def test_too_few_finished_rows(tmp_path, cli):
    store = forgetmap.create_store(tmp_path / "run", ["a", "b", "c"], ["x", "y", "z"])
    store.write_row("a", np.array([1.0, 2.0, 0.5]))
    _one_line_error(cli("analyze", tmp_path / "run"), "1 finished", "at least 2")
    assert forgetmap.open_store(tmp_path / "run").load_json("analysis") is None


def test_empty_rows_and_columns_are_named_and_can_be_dropped(tmp_path, cli):
    values = np.random.default_rng(0).normal(size=(5, 8))
    values[2] = np.nan
    values[:, 6] = np.nan
    tasks, examples = [f"t{i}" for i in range(5)], [f"e{j}" for j in range(8)]
    forgetmap.create_store(tmp_path / "run", tasks, examples, forgetting=values)
    _one_line_error(cli("analyze", tmp_path / "run"), "'t2'", "'e6'", "--drop-empty")
    result = cli("--format", "json", "analyze", tmp_path / "run", "--drop-empty")
    document = json.loads(result.out)
    assert document["shape"] == [4, 7]
    assert document["settings"]["dropped_tasks"] == ["t2"]
    assert document["settings"]["dropped_examples"] == ["e6"]


@pytest.mark.parametrize("command", ["analyze", "similarity"])
def test_help_line_is_not_truncated(cli, command):
    result = cli("--help")
    line = next(line for line in result.out.splitlines() if line.strip().startswith(command))
    assert not line.rstrip().endswith("...")
    assert cli(command, "--help").code == 0
